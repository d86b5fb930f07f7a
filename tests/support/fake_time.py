"""A clock that moves only when a test says so, and the timers it would fire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any:
        self.timers.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [timer for timer in self.timers if timer[0] <= self.now]
        self.timers = [timer for timer in self.timers if timer[0] > self.now]
        for _, callback in sorted(due, key=lambda timer: timer[0]):
            callback()
