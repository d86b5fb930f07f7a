"""Addresses where a server fails: nothing listening, never accepting, or never reading."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self


def closed_port() -> int:
    """A loopback port with nothing listening on it (bound, then released): connect is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listening:
    """A loopback listener that never accepts; a context manager that closes it."""

    def __init__(self, backlog: int) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(backlog)
        self.others: list[socket.socket] = []  # closed with it

    @property
    def address(self) -> str:
        host, port = self.listener.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for sock in self.others:
            sock.close()
        self.listener.close()


class BlackHole(Listening):
    """A port where connecting hangs: a listener with a backlog of 0, already filled.

    Linux drops further SYNs while the accept queue is full (``tcp_abort_on_overflow`` 0),
    so a connect attempt neither succeeds nor is refused until it gives up.
    """

    def __init__(self) -> None:
        super().__init__(backlog=0)
        self.others.append(socket.create_connection(self.listener.getsockname(), timeout=2.0))


class DeafServer(Listening):
    """A server that takes connections and never reads from them: the kernel completes each
    connection into the accept queue and buffers what is sent until its window closes."""

    def __init__(self) -> None:
        super().__init__(backlog=16)
