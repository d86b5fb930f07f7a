"""How many retries a pool may send: a share of its recent traffic (Finagle's RetryBudget).

Retries over the last ``window`` seconds may be at most ``percent`` of the first tries in
that time, plus ``min_per_second`` for each second of it, so a quiet pool can still retry.
When one server of three dies, a third of the requests fail at once: the window's traffic
pays for retrying all of them. When every server is failing, retries add at most
``percent`` to the load instead of multiplying it by ``retries + 1``.

The proxy counts nothing extra per request: ``tick()``, once a second, notes the pool's
request count (which servers keep anyway), and the window is the span of the notes kept.
"""

from __future__ import annotations

from collections import deque


class RetryBudget:
    __slots__ = ("min_per_second", "notes", "percent", "retries_total")

    def __init__(self, *, percent: float = 20.0, min_per_second: float = 10.0, window: int = 10) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 second, got {window}")
        self.percent = percent
        self.min_per_second = min_per_second
        self.retries_total = 0
        # (requests, retries) as they stood at each of the last ``window`` ticks, oldest first.
        self.notes: deque[tuple[int, int]] = deque([(0, 0)], maxlen=window)

    def tick(self, requests_total: int) -> None:
        """Called once a second with the pool's count of requests sent (first tries and retries)."""
        self.notes.append((requests_total, self.retries_total))

    def allows(self, requests_total: int) -> bool:
        """Whether one more retry fits in the budget now."""
        requests_then, retries_then = self.notes[0]
        retries = self.retries_total - retries_then
        first_tries = requests_total - requests_then - retries
        seconds = len(self.notes)
        return retries < first_tries * self.percent / 100 + self.min_per_second * seconds

    def spend(self) -> None:
        self.retries_total += 1
