"""A lingering close: how a client connection ends when laneway answers before it has read
the whole request (a server's early answer, or laneway's own 413).

Closing a socket with unread bytes makes the kernel reset the connection, and the reset
throws away whatever of the answer is still on its way: the client, still sending its body,
may never see why it was refused. So laneway half-closes instead (the answer, then FIN),
reads and drops what the client still sends, and closes once the client does, or after
``LINGER_QUIET`` seconds without a byte, or ``LINGER_MOST`` in all (NGINX's
``lingering_close``, with its ``lingering_timeout`` and ``lingering_time``; RFC 9112 9.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

LINGER_QUIET: Final = 5.0
LINGER_MOST: Final = 30.0


class Watched(Protocol):
    deadline: float
    deadline_kind: int


class Lingering:
    """Put in a client connection's ``tunnel`` slot: what the client sends is written here,
    and dropped; each write moves the connection's deadline on, up to ``LINGER_MOST``."""

    def __init__(self, connection: Watched, clock: Callable[[], float], idle: int) -> None:
        self.connection = connection
        self.clock = clock
        now = clock()
        self.until = now + LINGER_MOST
        connection.deadline = now + LINGER_QUIET
        connection.deadline_kind = idle  # when it passes, the connection is closed

    def write(self, data: bytes) -> None:
        self.connection.deadline = min(self.clock() + LINGER_QUIET, self.until)

    def close(self) -> None:
        """Nothing to close: the client connection closes itself."""

    def pause_reading(self) -> None:
        """Nothing to pause: nothing is sent anywhere."""

    def resume_reading(self) -> None:
        """Likewise."""
