"""When to start again a worker that died: at once if it had run a while, later and later if
it keeps dying young, so a worker that crashes on start does not spin the machine."""

from __future__ import annotations


class RestartBackoff:
    """``delay(lived)``: seconds to wait before starting again a worker that ran ``lived``
    seconds. A worker that lived at least ``healthy_after`` seconds is restarted at once and
    clears the count; each short life in a row doubles the wait, from ``first`` up to
    ``longest``."""

    def __init__(self, *, first: float = 0.5, longest: float = 30.0, healthy_after: float = 10.0) -> None:
        self.first = first
        self.longest = longest
        self.healthy_after = healthy_after
        self.short_lives = 0

    def delay(self, lived: float) -> float:
        if lived >= self.healthy_after:
            self.short_lives = 0
            return 0.0
        self.short_lives += 1
        return min(self.longest, self.first * 2 ** (self.short_lives - 1))
