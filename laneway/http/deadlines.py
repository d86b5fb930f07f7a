"""One timer for all connections instead of one timer per request.

Arming a timer per request (``loop.call_later`` and its cancel) costs more on the hot path
than anything else about a timeout. Instead each connection keeps a ``deadline`` (a float,
0 for none) and one sweep per ``tick`` calls ``on_deadline()`` on those past it. A deadline
therefore fires up to one tick late, which is far below any timeout worth configuring.
The sweep also keeps ``now`` current, so connections read the time without a system call.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class HasDeadline(Protocol):
    deadline: float

    def on_deadline(self) -> None: ...


class DeadlineSweeper:
    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = 0.1) -> None:
        self.loop = loop
        self.tick = tick
        self.now = loop.time()
        self.watched: set[HasDeadline] = set()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._handle is None:
            self._handle = self.loop.call_later(self.tick, self._sweep)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _sweep(self) -> None:
        self.now = now = self.loop.time()
        due = [item for item in self.watched if 0.0 < item.deadline <= now]
        for item in due:
            item.deadline = 0.0
            item.on_deadline()
        self._handle = self.loop.call_later(self.tick, self._sweep)
