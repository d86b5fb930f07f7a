"""Keep-alive connections to one server, kept for reuse.

The pool does not know what a connection speaks: anything with ``is_open()``, ``idle_since``
and ``close()`` can be kept. Idle connections are reused last-in first-out, so the warmest
connection goes first and the coldest ones age out under the idle timeout.
"""

from __future__ import annotations

import contextlib
from typing import Protocol


class Reusable(Protocol):
    idle_since: float

    def is_open(self) -> bool: ...

    def close(self) -> None: ...


class ConnectionPool:
    __slots__ = ("idle", "idle_timeout", "max_idle")

    def __init__(self, *, max_idle: int, idle_timeout: float) -> None:
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.idle: list[Reusable] = []

    def take(self, now: float) -> Reusable | None:
        """An idle connection that is still open and not too old, or ``None``."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            if connection.is_open() and now - connection.idle_since < self.idle_timeout:
                return connection
            connection.close()
        return None

    def give_back(self, connection: Reusable, now: float) -> None:
        """Keep ``connection`` for reuse, or close it when the pool is full."""
        if len(self.idle) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = now
        self.idle.append(connection)

    def forget(self, connection: Reusable) -> None:
        """The connection closed while idle (the server hung up)."""
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)

    def close_expired(self, now: float) -> None:
        """Close idle connections past the idle timeout (oldest are at the front)."""
        idle = self.idle
        expired = 0
        for connection in idle:
            if now - connection.idle_since < self.idle_timeout:
                break
            expired += 1
        if expired:
            for connection in idle[:expired]:
                connection.close()
            del idle[:expired]

    def close_all(self) -> None:
        while self.idle:
            self.idle.pop().close()
