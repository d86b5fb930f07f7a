"""Moving a connection's bytes with ``os.splice`` once both ends are plain sockets (Linux).

Why: through transports every byte is copied into a Python ``bytes`` and out again. With
``splice`` the kernel moves the pages from one socket to the other through a pipe, and
Python only says how many; measured on loopback it halves the CPU per GiB moved
(bench/README.md, "Layer 4").

How: once the server connection is made and nothing waits in either transport's write
buffer, both transports stop reading (they keep owning, and later close, their sockets)
and this module watches duplicates of the two descriptors itself. Each direction moves
bytes source -> pipe -> target. Back-pressure is the pipe: while the pipe cannot be emptied
into the target (``EAGAIN``), the source is not read, so each direction holds at most one
pipe's worth (64 KiB, the kernel's default) and a slow reader slows the writer down. An EOF
(``splice`` returns 0) becomes ``shutdown(SHUT_WR)`` on the target once the pipe is empty:
the half-close of the transport path, kept. The owner hears of bytes moving (for its idle
timer), of a direction ending and of errors through three callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import Callable
from typing import cast

AVAILABLE = hasattr(os, "splice")
CHUNK = 1 << 20  # asked for per call; the pipe's size bounds what moves
FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)


def own_socket(transport: asyncio.BaseTransport) -> socket.socket:
    """A duplicate of the transport's socket, to watch and shut down without the transport."""
    pseudo = transport.get_extra_info("socket")
    return socket.fromfd(pseudo.fileno(), pseudo.family, pseudo.type)


class Direction:
    """Bytes from ``source`` to ``target`` through a pipe of their own."""

    __slots__ = (
        "ended",
        "eof",
        "in_pipe",
        "loop",
        "pipe",
        "read_end",
        "reading",
        "source",
        "target",
        "write_end",
        "writing",
    )

    def __init__(self, pipe: SplicedPipe, source: socket.socket, target: socket.socket) -> None:
        # Weak: the pipe holds its directions, and a cycle would be freed only by a garbage
        # collection pass instead of when the connection lets go of the pipe.
        self.pipe = cast(SplicedPipe, weakref.proxy(pipe))
        self.loop = pipe.loop
        self.source = source.fileno()
        self.target = target
        self.read_end, self.write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.in_pipe = 0  # bytes in the pipe, not yet in the target
        self.eof = False  # the source sent its EOF
        self.ended = False  # and it was passed on
        self.reading = False
        self.writing = False

    def start(self, *, source_ended: bool) -> None:
        if source_ended:
            self.eof = self.ended = True  # passed on already, by the transport path
            return
        self.watch_source(True)

    def watch_source(self, on: bool) -> None:
        if on and not self.reading:
            self.loop.add_reader(self.source, self.readable)
        elif not on and self.reading:
            self.loop.remove_reader(self.source)
        self.reading = on

    def readable(self) -> None:
        if self.pipe.closed:
            return
        try:
            count = os.splice(self.source, self.write_end, CHUNK, flags=FLAGS)
        except BlockingIOError:
            return
        except OSError:
            self.pipe.failed()
            return
        if count == 0:
            self.eof = True
            self.watch_source(False)
        else:
            self.in_pipe += count
            self.pipe.moved()
        self.flush()

    def flush(self) -> None:
        target = self.target.fileno()
        while self.in_pipe and not self.pipe.closed:
            try:
                self.in_pipe -= os.splice(self.read_end, target, self.in_pipe, flags=FLAGS)
            except BlockingIOError:
                # The target's send buffer is full: stop reading until it drains.
                self.watch_source(False)
                if not self.writing:
                    self.writing = True
                    self.loop.add_writer(target, self.writable)
                return
            except OSError:
                self.pipe.failed()
                return
        if self.eof and not self.ended and not self.pipe.closed:
            self.ended = True
            with contextlib.suppress(OSError):
                self.target.shutdown(socket.SHUT_WR)
            self.pipe.direction_ended()

    def writable(self) -> None:
        if self.pipe.closed:
            return
        self.pipe.moved()
        self.flush()
        if not self.in_pipe and not self.pipe.closed:
            if self.writing:
                self.writing = False
                self.loop.remove_writer(self.target.fileno())
            if not self.eof:
                self.watch_source(True)

    def close(self) -> None:
        self.watch_source(False)
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.target.fileno())
        os.close(self.read_end)
        os.close(self.write_end)


class SplicedPipe:
    """Both directions of one connection; ``close()`` exactly once when it is over."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: asyncio.BaseTransport,
                 server: asyncio.BaseTransport, *, on_move: Callable[[], None],
                 on_end: Callable[[], None], on_error: Callable[[], None]) -> None:
        self.loop = loop
        self.on_move, self.on_end, self.on_error = on_move, on_end, on_error
        self.closed = False
        self.client = own_socket(client)
        self.server = own_socket(server)
        self.upload = Direction(self, self.client, self.server)
        self.download = Direction(self, self.server, self.client)

    def start(self, *, client_ended: bool) -> None:
        self.upload.start(source_ended=client_ended)
        self.download.start(source_ended=False)

    @property
    def buffered(self) -> tuple[int, int]:
        """Bytes held on their way (to the client, to the server)."""
        return self.download.in_pipe, self.upload.in_pipe

    def moved(self) -> None:
        self.on_move()

    def direction_ended(self) -> None:
        if self.upload.ended and self.download.ended:
            self.on_end()

    def failed(self) -> None:
        self.on_error()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.upload.close()
        self.download.close()
        self.client.close()
        self.server.close()
