"""Servers that fail: nothing listening, never accepting, never reading, or misbehaving in
time (``ScriptedServer``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
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


class ScriptedServer(Listening):
    """A server whose every connection runs ``script(sock)`` in a thread of its own, for
    servers that misbehave in time (read slowly, switch protocols and then read nothing)."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        super().__init__(backlog=16)
        self.script = script
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.others.append(sock)
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.script(sock)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stopping.set()
        super().__exit__(exc_type, exc, traceback)


def read_head(sock: socket.socket) -> bytes:
    """The request head from ``sock`` (and nothing after it, read a byte at a time)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("closed before the end of the head")
        head += byte
    return head


def switch_then_read_nothing(sock: socket.socket, after: float = 0.0) -> None:
    """Answer the upgrade with 101 ``after`` seconds, then never read again (the socket is
    held open)."""
    read_head(sock)
    time.sleep(after)  # the server's own pace, not a wait for a condition
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
