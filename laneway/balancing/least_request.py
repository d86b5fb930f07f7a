"""Least request: the power of two choices over requests in flight. laneway's default.

Why the default. It is load-aware like least connections, so a slow or stuck server stops
getting requests as its queue grows, but costs O(1) per pick whatever the pool size and keeps
no shared ordering, so it stays good when many balancers (workers, instances) share servers
without sharing counts: each one's two random draws rarely agree on the same victim, whereas
every least-connections balancer that sees the same stale counts herds onto the same server.
Two random draws take the expected worst load from O(log n / log log n) (random) to
O(log log n) (Mitzenmacher, 2001). Envoy's default policy is ``LEAST_REQUEST`` with two
choices, and HAProxy 3.3 made ``random`` with two draws its default ``balance`` for the same
reasons.

Choice (Envoy ``least_request_lb.cc``). Two distinct targets are drawn uniformly.

* Weights all equal: fewer requests in flight wins.
* Weights differ: the larger ``weight / (in_flight + 1) ** bias`` wins. ``bias`` 1.0 (the
  default) is compared exactly as ``a.weight * (b.in_flight + 1) > b.weight * (a.in_flight + 1)``;
  a larger bias makes load count for more, 0 compares weights alone. Slow start lowers weight.

Two idle candidates are a tie. The formula alone would always give a request to the heavier
of two idle servers, so in a lightly loaded pool the lighter ones (and a server in slow start)
would get nothing at all; Envoy avoids that by switching to an EDF schedule when weights
differ. Here idle time goes by the tie-break below, in proportion to weight.

Tie-break. In a big, lightly loaded pool most servers have nothing in flight, so the two
candidates usually tie and a coin flip would leave the spread only as even as ``random``'s.
Ties therefore go to the candidate with the lower recent request rate (per weight): a counter
per target that grows by one per request started and decays exponentially with time constant
``rate_decay`` seconds (using the ``now`` passed in). Only then does the first draw win.
"""

from __future__ import annotations

import math
import random

from laneway.balancing.base import T, check_number
from laneway.balancing.two_choices import Books, TwoChoices


class _RateBooks(Books):
    __slots__ = ("rate", "rate_at")

    def __init__(self) -> None:
        super().__init__()
        # Requests started recently, decayed to the time rate_at.
        self.rate = 0.0
        self.rate_at = 0.0


class LeastRequest(TwoChoices[T, _RateBooks]):
    """Power of two choices over requests in flight, Envoy's weighting, rate tie-break."""

    name = "least_request"

    def __init__(self, rng: random.Random | None = None, *, bias: float = 1.0, rate_decay: float = 1.0,
                 slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        self.bias = check_number(self.name, "bias", bias, minimum=0.0,
                                 hint="; use 1.0 (Envoy's default) or more to favour idle servers")
        self.rate_decay = check_number(self.name, "rate_decay", rate_decay, minimum=0.0, inclusive=False,
                                       hint="; use seconds, e.g. 1.0")

    def _new_books(self) -> _RateBooks:
        return _RateBooks()

    def _rate(self, books: _RateBooks, now: float) -> float:
        return books.rate * math.exp(-max(now - books.rate_at, 0.0) / self.rate_decay)

    def on_start(self, target: T, now: float = 0.0) -> None:
        books = self._books_of(target)
        books.active += 1
        books.rate = self._rate(books, now) + 1.0
        books.rate_at = max(now, books.rate_at)

    def _better(self, i: int, j: int, now: float) -> int:
        a, b = self._at[i], self._at[j]
        if self._equal_weights:
            if a.active != b.active:
                return i if a.active < b.active else j
            rate_a, rate_b = self._rate(a, now), self._rate(b, now)
            return j if rate_b < rate_a else i
        weight_a, weight_b = self._weights[i], self._weights[j]
        if a.active or b.active:
            if self.bias == 1.0:
                # weight_a / (a.active + 1) against weight_b / (b.active + 1), cross-multiplied.
                score_a, score_b = weight_a * (b.active + 1), weight_b * (a.active + 1)
            else:
                score_a = weight_a / (a.active + 1) ** self.bias
                score_b = weight_b / (b.active + 1) ** self.bias
            if score_a != score_b:
                return i if score_a > score_b else j
        # rate_a / weight_a against rate_b / weight_b, cross-multiplied.
        rate_a, rate_b = self._rate(a, now) * weight_b, self._rate(b, now) * weight_a
        return j if rate_b < rate_a else i
