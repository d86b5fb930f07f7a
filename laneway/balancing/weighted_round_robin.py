"""Smooth weighted round robin, as NGINX does it: shares by weight, interleaved.

The chapter's sketch repeats each server ``weight`` times in a list, so weights 5, 1, 1 give
``a a a a a b c``: five requests in a row to ``a``, a burst. NGINX's smooth algorithm
(``ngx_http_upstream_get_peer``) gives ``a a b a c a a`` instead. Each target has a
``current`` value; on every pick

1. every target's ``current`` grows by its weight,
2. the target with the largest ``current`` is chosen (the first in the list on a tie),
3. the chosen one's ``current`` drops by the total weight ``W``.

The sum of the currents stays zero, and after ``W`` picks from all-zero every target has been
chosen exactly ``weight`` times and every current is zero again: exact shares per cycle, and
no target gets more consecutive picks than its weight forces.

Cost. NGINX loops over all targets per pick, O(n). Here targets of equal weight are grouped:
with ``t`` picks done, ``current = base + t * weight``, so inside a group (one slope) the order
by ``base`` does not move as ``t`` grows and a heap per group gives the group's best in
O(log n). A pick compares the groups' bests: O(d + log n) for d distinct weights, which is
a handful in practice (and during slow start, when ramping targets get weights of their own).
The picks are exactly NGINX's, tie-breaks included.

Changes (``update``, a slow-start step) keep every surviving target's ``current``, as NGINX
keeps ``current_weight`` across weight changes; a new target starts at zero.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from heapq import heapify, heappop, heappush, heapreplace

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, is_excluded


class _Group:
    """Targets of one effective weight; ``heap`` holds ``(-base, index)``, best first."""

    __slots__ = ("heap", "weight")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.heap: list[tuple[int, int]] = []


class WeightedRoundRobin(Balancer[T]):
    """Smooth weighted round robin (NGINX), O(distinct weights + log n) per pick."""

    name = "weighted_round_robin"

    def __init__(self, rng: random.Random | None = None, *, slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        # Picks since the last rebuild: each one added every target's weight once.
        self._t = 0
        # The total effective weight W.
        self._total = 0
        # Per target index: base value (current = base + t * weight) and its group.
        self._base: list[int] = []
        self._group_of: list[_Group] = []
        self._groups: list[_Group] = []

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        currents = self._currents()
        super().update(targets, now)
        self._rebuild(currents)

    def _weights_changed(self, keys: list[str], now: float) -> None:
        self._rebuild(self._currents())

    def _currents(self) -> dict[str, int]:
        t = self._t
        return {target.key: self._base[i] + t * self._group_of[i].weight
                for i, target in enumerate(self.targets) if i < len(self._base)}

    def _rebuild(self, currents: dict[str, int]) -> None:
        self._t = 0
        self._base = [currents.get(target.key, 0) for target in self.targets]
        groups: dict[int, _Group] = {}
        self._group_of = []
        for i, target in enumerate(self.targets):
            weight = self._weight(target)
            group = groups.get(weight)
            if group is None:
                group = groups[weight] = _Group(weight)
            group.heap.append((-self._base[i], i))
            self._group_of.append(group)
        for group in groups.values():
            heapify(group.heap)
        self._groups = list(groups.values())
        self._total = sum(group.weight * len(group.heap) for group in self._groups)

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        self._tick(now)
        if not self.targets:
            return None
        t = self._t + 1
        self._t = t
        exclude = context.exclude
        if exclude:
            index = self._choose_excluding(t, exclude)
            if index is not None:
                return self.targets[index]
            # Everything is excluded: pick as if nothing were.
        group, index = self._best(t)
        self._choose(group, index)
        return self.targets[index]

    def _best(self, t: int) -> tuple[_Group, int]:
        """The group whose top has the largest current at pick ``t``; lowest index on a tie."""
        best = self._groups[0]
        negative_base, best_index = best.heap[0]
        best_value = t * best.weight - negative_base
        for group in self._groups[1:]:
            negative_base, index = group.heap[0]
            value = t * group.weight - negative_base
            if value > best_value or (value == best_value and index < best_index):
                best, best_value, best_index = group, value, index
        return best, best_index

    def _choose(self, group: _Group, index: int) -> None:
        """``index`` (the top of ``group``) is chosen: its current drops by W."""
        base = self._base[index] - self._total
        self._base[index] = base
        heapreplace(group.heap, (-base, index))

    def _choose_excluding(self, t: int, exclude: Collection[object]) -> int | None:
        """Choose among the targets not excluded: set the excluded tops aside, choose, put them back."""
        targets = self.targets
        aside: list[tuple[_Group, tuple[int, int]]] = []
        best: _Group | None = None
        best_value = best_index = 0
        for group in self._groups:
            heap = group.heap
            while heap and is_excluded(targets[heap[0][1]], exclude):
                aside.append((group, heappop(heap)))
            if heap:
                negative_base, index = heap[0]
                value = t * group.weight - negative_base
                if best is None or value > best_value or (value == best_value and index < best_index):
                    best, best_value, best_index = group, value, index
        if best is not None:
            self._choose(best, best_index)
        for group, entry in aside:
            heappush(group.heap, entry)
        return None if best is None else best_index
