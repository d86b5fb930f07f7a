"""Least response time: peak-EWMA latency times requests in flight, over two random choices.

The chapter's sketch averages each server's last ten latencies and sends everything to the
lowest, with "no history, assume fast (0)": a new server gets every request at once, and an
average over the last N requests forgets slowly at low traffic and quickly at high traffic.
This is Finagle's and Linkerd's peak-EWMA balancer instead (Finagle ``PeakEwma``, Linkerd's
``tower::load::PeakEwma``), with two random choices as Linkerd does it:

Estimate. Per target, an exponentially weighted moving average of latency whose weight
depends on time, not on the request count: a sample observed ``dt`` seconds after the previous
one moves the average by ``1 - exp(-dt / decay)``. "Peak": a sample above the current estimate
replaces it at once, so a server that slows down is avoided at once and trusted again only
gradually. Between samples the estimate decays towards zero with the same time constant, so a
server that was slow once is tried again after a while rather than shunned for ever.

Cost. ``estimate * (in_flight + 1) / weight``: the latency a new request would see if the
requests already queued there took as long. Two candidates are drawn at random and the lower
cost wins (ties: fewer in flight, then the first draw). O(1) per pick, like ``least_request``;
a full scan for the minimum would be O(n) and would herd every balancer onto the same server.

No history. A target with no sample yet (new, or back after leaving) is probed: while it has
nothing in flight its cost is zero, so the next draw that includes it sends it one request;
while that probe is out it counts as an average server (``default_rtt``, or the mean of the
estimates of the targets that have one). It is never treated as infinitely fast.

Failures. A failed request counts as at least twice the target's estimate (or the pool's
typical latency, whichever is larger): a server that fails fast must not look fast.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from laneway.balancing.base import T, check_number
from laneway.balancing.two_choices import Books, TwoChoices

# When nothing has been measured and no default_rtt is given, any positive unit will do:
# costs are only ever compared with each other.
_NEUTRAL_RTT = 1.0


class _LatencyBooks(Books):
    __slots__ = ("estimate", "measured", "observed_at")

    def __init__(self) -> None:
        super().__init__()
        self.measured = False
        # Peak-EWMA latency in seconds as of observed_at (decays towards zero after it).
        self.estimate = 0.0
        self.observed_at = 0.0


class LeastResponseTime(TwoChoices[T, _LatencyBooks]):
    """Power of two choices over peak-EWMA latency times (in flight + 1), per weight."""

    name = "least_response_time"

    def __init__(self, rng: random.Random | None = None, *, decay: float = 10.0,
                 default_rtt: float | None = None, slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        self.decay = check_number(self.name, "decay", decay, minimum=0.0, inclusive=False,
                                  hint="; use seconds, e.g. 10 (Finagle's and Linkerd's default)")
        self.default_rtt = None if default_rtt is None else check_number(
            self.name, "default_rtt", default_rtt, minimum=0.0, inclusive=False,
            hint="; use seconds, e.g. 0.05, or leave it unset to use the pool's mean")
        # The sum and count of the current targets' estimates (undecayed), for their mean.
        self._estimates_sum = 0.0
        self._estimates_count = 0

    def _new_books(self) -> _LatencyBooks:
        return _LatencyBooks()

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        super().update(targets, now)
        measured = [books.estimate for books in self._at if books.measured]
        self._estimates_sum = sum(measured)
        self._estimates_count = len(measured)

    def typical(self) -> float:
        """What a target without a measurement is assumed to take, in seconds."""
        if self.default_rtt is not None:
            return self.default_rtt
        if self._estimates_count:
            return self._estimates_sum / self._estimates_count
        return _NEUTRAL_RTT

    def estimate(self, target: T, now: float) -> float | None:
        """``target``'s latency estimate at ``now``, or None before its first sample."""
        books = self._books.get(target.key)
        if books is None or not books.measured:
            return None
        return self._decayed(books, now)

    def _decayed(self, books: _LatencyBooks, now: float) -> float:
        return books.estimate * math.exp(-max(now - books.observed_at, 0.0) / self.decay)

    def _cost(self, books: _LatencyBooks, now: float) -> float:
        if books.measured:
            return self._decayed(books, now) * (books.active + 1)
        # Probe: one request at a time until the first sample comes back.
        return 0.0 if not books.active else self.typical() * (books.active + 1)

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:
        books = self._books.get(target.key)
        if books is None or not books.active:
            return  # no matching on_start: nothing to end, and no sample to trust
        books.active -= 1
        latency = max(latency, 0.0)
        if books.measured:
            keep = math.exp(-max(now - books.observed_at, 0.0) / self.decay)
            current = books.estimate * keep
            if failed:
                latency = max(latency, 2.0 * max(current, self.typical()))
            # Peak: a slower sample replaces the estimate; a faster one moves it by (1 - keep).
            estimate = latency if latency > current else current + latency * (1.0 - keep)
        else:
            estimate = max(latency, 2.0 * self.typical()) if failed else latency
        if books.current:
            self._estimates_sum += estimate - (books.estimate if books.measured else 0.0)
            self._estimates_count += 0 if books.measured else 1
        books.estimate = estimate
        books.measured = True
        books.observed_at = max(now, books.observed_at)
        if not books.current and not books.active:
            del self._books[target.key]

    def _better(self, i: int, j: int, now: float) -> int:
        a, b = self._at[i], self._at[j]
        # cost_a / weight_a against cost_b / weight_b, cross-multiplied.
        cost_a = self._cost(a, now) * self._weights[j]
        cost_b = self._cost(b, now) * self._weights[i]
        if cost_a != cost_b:
            return i if cost_a < cost_b else j
        return j if b.active < a.active else i
