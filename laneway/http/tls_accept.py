"""Accepting connections on a TLS listener: the handshake first, the HTTP side after.

A ``TlsAcceptor`` owns a TLS listener's socket. It accepts each connection and runs its
server-side handshake (``loop.connect_accepted_socket`` with the listener's context) under
the handshake timeout, as a task of its own. Only a connection whose handshake succeeds
gets a ``ClientConnection``. A client that sends garbage instead of a ClientHello, stops half
way or never sends anything is cut off when its handshake fails or times out, and logged;
the other connections never wait for it.

``create_server(ssl=...)`` would do the accepting, but it drops a failed handshake silently
(asyncio and uvloop log it only in debug mode), and an operator needs to see clients that
cannot connect. ``start_tls`` from a plain protocol races with the first bytes under uvloop
(the ClientHello can reach the plain protocol first), so the socket is handed to the TLS
layer before anything is read from it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from typing import TYPE_CHECKING

from laneway.http.client import ClientConnection

if TYPE_CHECKING:
    from laneway.http.listener import HttpListener

log = logging.getLogger("laneway.http")

# Out of file descriptors or buffers: asyncio's own server pauses accepting for a second
# (asyncio.constants.ACCEPT_RETRY_DELAY) rather than spin; so does this one.
ACCEPT_RETRY_DELAY = 1.0
RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class TlsAcceptor:
    def __init__(self, listener: HttpListener, context: ssl.SSLContext) -> None:
        self.listener = listener
        self.loop = listener.loop
        self.context = context
        self.sock: socket.socket | None = None
        self.accepting: asyncio.Task[None] | None = None
        self.handshakes: set[asyncio.Task[None]] = set()

    def start(self, host: str, port: int, *, reuse_port: bool = False) -> tuple[str, int]:
        """Bind and start accepting; returns the bound address."""
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=4096, reuse_port=reuse_port)
        sock.setblocking(False)
        self.sock = sock
        self.accepting = self.loop.create_task(self._accept())
        address = sock.getsockname()
        return address[0], address[1]

    def stop_accepting(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self.accepting is not None and not self.accepting.done():
            # Close the socket only once the pending accept has been withdrawn from the
            # loop: closing a descriptor the loop still watches is undefined.
            self.accepting.add_done_callback(lambda _: sock.close())
            self.accepting.cancel()
        else:
            sock.close()

    def replace_context(self, context: ssl.SSLContext) -> None:
        """New certificates (a config reload): handshakes from now on use ``context``;
        connections already made keep theirs."""
        self.context = context

    def abort_handshakes(self) -> None:
        """Shutdown: a connection still in its handshake has no request to finish."""
        for task in list(self.handshakes):
            task.cancel()

    async def _accept(self) -> None:
        sock = self.sock
        assert sock is not None
        while self.sock is sock:
            try:
                connection, _ = await self.loop.sock_accept(sock)
            except OSError as error:
                if error.errno in RESOURCE_ERRORS:
                    log.error("listener %s: cannot accept: %s; pausing accepts for %gs",
                              self.listener.name, error.strerror, ACCEPT_RETRY_DELAY)
                    await asyncio.sleep(ACCEPT_RETRY_DELAY)
                    continue
                if self.sock is not sock:  # stop_accepting ran
                    return
                log.warning("listener %s: accept failed: %s", self.listener.name, error)
                continue
            task = self.loop.create_task(self._handshake(connection))
            self.handshakes.add(task)
            task.add_done_callback(self.handshakes.discard)

    async def _handshake(self, connection: socket.socket) -> None:
        try:
            peer = connection.getpeername()
            where = f"{peer[0]}:{peer[1]}"
        except OSError:
            where = "a client"
        try:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The ClientConnection's connection_made runs as soon as the handshake succeeds.
            await self.loop.connect_accepted_socket(
                lambda: ClientConnection(self.listener), connection, ssl=self.context,
                ssl_handshake_timeout=self.listener.settings.handshake_timeout)
        except (OSError, TimeoutError) as error:
            # ssl.SSLError is an OSError; so is the ConnectionAbortedError the TLS layer
            # raises when the handshake timeout passes, and a reset from the client.
            # A client that hangs up is routine (TCP health checks of a balancer in front,
            # port scans, a client giving up): info. Garbage and timeouts: warning.
            hung_up = isinstance(error, ConnectionResetError | BrokenPipeError)
            log.log(logging.INFO if hung_up else logging.WARNING,
                    "listener %s: TLS handshake with %s failed: %s", self.listener.name, where,
                    _describe(error))
            connection.close()
        except asyncio.CancelledError:
            connection.close()
            raise


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)  # OpenSSL's name, e.g. HTTP_REQUEST for plain HTTP on a TLS port
    if isinstance(error, ConnectionResetError | BrokenPipeError) and not str(error):
        return "the client closed the connection"
    return str(error) or type(error).__name__
