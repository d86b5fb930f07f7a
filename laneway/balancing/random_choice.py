"""Random: a target drawn at random, in proportion to its weight (NGINX ``random``).

O(1) per pick when all weights are equal, O(log n) (a bisection over the running sums of the
weights) when they differ. Stateless between requests, so several balancers (workers,
instances) that share nothing still spread evenly; but the spread is only even on average,
and a short burst can land unevenly. ``least_request`` (two random draws, the less busy wins)
is the load-aware improvement on it.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, is_excluded

# Draws before giving up on luck and filtering the excluded out (a retry with most excluded).
_REDRAWS = 8


class RandomChoice(Balancer[T]):
    """A weighted random draw per pick."""

    name = "random"

    def __init__(self, rng: random.Random | None = None, *, slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        # Running sums of the effective weights, or None when they are all equal.
        self._sums: list[int] | None = None

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        super().update(targets, now)
        self._rebuild()

    def _weights_changed(self, keys: list[str], now: float) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        weights = [self._weight(target) for target in self.targets]
        self._sums = None if len(set(weights)) <= 1 else list(accumulate(weights))

    def _draw(self, targets: Sequence[T], sums: list[int] | None) -> T:
        if sums is None:
            return targets[self.rng.randrange(len(targets))]
        return targets[bisect_right(sums, self.rng.randrange(sums[-1]))]

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        self._tick(now)
        targets = self.targets
        if not targets:
            return None
        target = self._draw(targets, self._sums)
        exclude = context.exclude
        if not exclude or not is_excluded(target, exclude):
            return target
        for _ in range(_REDRAWS):
            target = self._draw(targets, self._sums)
            if not is_excluded(target, exclude):
                return target
        allowed = [t for t in targets if not is_excluded(t, exclude)]
        if not allowed:
            return target
        return self._draw(allowed, list(accumulate(self._weight(t) for t in allowed)))
