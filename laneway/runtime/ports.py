"""The listeners' ports, held by the supervisor while its workers share them.

Each worker binds every listener itself with SO_REUSEPORT, and the kernel spreads new
connections over the workers' sockets. The supervisor binds each listener's address first,
with SO_REUSEPORT too but without listening: a socket that does not listen gets no
connections, yet it

- finds a port in use by something else (an ``OSError`` before any worker starts, as with
  one process; for a host name, at its first address),
- turns ``port 0`` into one real port that every worker then binds (each worker binding
  port 0 would get a different port), and
- keeps the port laneway's while workers restart.
"""

from __future__ import annotations

import socket

from laneway.config import Config, Listener


class Reservation:
    """One listener's address, bound (not listening) with SO_REUSEPORT."""

    def __init__(self, listener: Listener) -> None:
        self.bind = listener.bind
        host, port = listener.host_port
        self.any_port = port == 0
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        bound = sock.getsockname()
        self.address: tuple[str, int] = (bound[0], bound[1])

    @property
    def worker_bind(self) -> str:
        """The address workers bind: the real port, in the config's ``bind`` syntax."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def close(self) -> None:
        self.sock.close()


class Reservations:
    """The reservations of a config's listeners, by listener name."""

    def __init__(self) -> None:
        self.held: dict[str, Reservation] = {}

    def update(self, config: Config) -> dict[str, Reservation]:
        """Reserve the listeners of ``config`` that are new or moved; returns them, not yet
        in ``held`` (``commit`` them once the config runs, ``release`` them if not). Raises
        ``OSError`` (having closed what it opened) when an address cannot be bound."""
        fresh: dict[str, Reservation] = {}
        try:
            for listener in config.listeners:
                held = self.held.get(listener.name)
                if held is None or held.bind != listener.bind:
                    fresh[listener.name] = Reservation(listener)
        except OSError:
            release(fresh)
            raise
        return fresh

    def commit(self, config: Config, fresh: dict[str, Reservation]) -> None:
        """``config`` now runs: hold its listeners' addresses, let go of the others."""
        names = {listener.name for listener in config.listeners}
        for name, reservation in list(self.held.items()):
            if name not in names or name in fresh:
                reservation.close()
                del self.held[name]
        self.held.update(fresh)

    def binds(self) -> dict[str, str]:
        """Listener name -> the address its workers bind, for the listeners whose config asks
        for port 0; the others bind as the config says (a host name there may stand for
        several addresses, and each worker binds them all, as one process does)."""
        return {name: reservation.worker_bind for name, reservation in self.held.items()
                if reservation.any_port}

    def addresses(self) -> dict[str, tuple[str, int]]:
        return {name: reservation.address for name, reservation in self.held.items()}

    def close(self) -> None:
        release(self.held)
        self.held = {}


def release(reservations: dict[str, Reservation]) -> None:
    for reservation in reservations.values():
        reservation.close()


def with_binds(config: Config, binds: dict[str, str]) -> Config:
    """``config`` with each listener bound where ``binds`` says (its reserved real port)."""
    listeners = [listener.model_copy(update={"bind": binds.get(listener.name, listener.bind)})
                 for listener in config.listeners]
    return config.model_copy(update={"listeners": listeners})
