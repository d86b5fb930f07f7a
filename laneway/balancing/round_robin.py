"""Round robin: each target in turn."""

from __future__ import annotations

from collections.abc import Sequence

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T


class RoundRobin(Balancer[T]):
    """Each target in turn. The position survives ``update`` so a changed set does not
    send the next requests all to the first target again."""

    name = "round_robin"

    def __init__(self, rng: object = None) -> None:
        super().__init__()
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
        if context.exclude and target in context.exclude:
            for step in range(1, count):
                candidate = targets[(index + step) % count]
                if candidate not in context.exclude:
                    self._next = (index + step + 1) % count
                    return candidate
        return target
