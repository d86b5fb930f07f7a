"""Round robin: each target in turn, weights ignored (``weighted_round_robin`` reads them).

O(1) per pick. Use it when the servers are alike and the requests are too; it knows nothing of
load, so one slow server gets as many requests as a fast one (the chapter's 10 ms / 100 ms case).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, is_excluded


class RoundRobin(Balancer[T]):
    """Each target in turn. The position survives ``update`` so a changed set does not
    send the next requests all to the first target again."""

    name = "round_robin"

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__(rng)
        self._next = 0

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        super().update(targets, now)
        if self.targets:
            self._next %= len(self.targets)

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        targets = self.targets
        count = len(targets)
        if not count:
            return None
        index = self._next
        self._next = (index + 1) % count
        target = targets[index]
        exclude = context.exclude
        if exclude and is_excluded(target, exclude):
            for step in range(1, count):
                candidate = targets[(index + step) % count]
                if not is_excluded(candidate, exclude):
                    self._next = (index + step + 1) % count
                    return candidate
        return target
