"""Least connections: the target with the fewest requests in flight (per weight, when weighted).

The chapter's sketch scans every server per request (``min(servers, key=...)``), O(n), and on
a tie always takes the first, so with equal loads the first server gets every request. Here:

Order. A binary heap keyed by ``(load, pass, stamp, index)`` gives the least loaded target in
O(log n); ``on_start``/``on_end`` push a fresh entry for the one target whose load moved, and
the entry it had goes stale (lazy invalidation: an entry is live while its ``stamp`` is the
target's latest). Stale entries are dropped when they reach the top, and the heap is rebuilt
when it grows past twice the number of targets, so every operation is O(log n) amortized.

Load. ``load = in_flight / weight`` (``weight`` 1 for plain least connections). The exact
comparison is the cross-multiplied ``a.in_flight * b.weight < b.in_flight * a.weight`` (NGINX
``least_conn``, Pingora ``least.rs``); a heap needs one sortable key per entry, and the float
quotient orders exactly as the cross-multiplication does: IEEE division rounds correctly, so
equal ratios give the identical float, and two different ratios p/q and r/s differ by a
relative 1/(p*s) or more, which is above the 2**-52 that rounding can blur while
in_flight < 2**32 and weight < 2**20 (weights are at most 10,000, times 10 during slow start).
The tests check every pick against the cross-multiplied rule.

Ties. Equal loads are common (every idle server has load 0) and must share the work, so ties
go to the lowest ``pass``, a stride-scheduling virtual time: each start moves a target's pass
by ``1 / weight``. Among equal loads equal servers therefore take turns (round robin) and
unequal ones take shares by weight, as NGINX does with its weighted round robin among ties.
A target that was busy for long does not bank credit: its pass is brought up to the virtual
time before it moves (start-time fair queueing), so a quiet spell after a busy one does not
send a burst to whoever lagged.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from heapq import heapify, heappop, heappush
from typing import ClassVar

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, is_excluded

# Rebuild the heap once it holds more than COMPACT_FACTOR entries per target (plus a little).
COMPACT_FACTOR = 2
COMPACT_SLACK = 32


class LeastConnections(Balancer[T]):
    """Fewest requests in flight; weights ignored (``weighted_least_connections`` reads them)."""

    name = "least_connections"
    weighted: ClassVar[bool] = False

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__(rng)
        self._clear()

    def _clear(self) -> None:
        # Per target, by its index in self.targets (rebuilt by update)
        self._index: dict[str, int] = {}
        self._active: list[int] = []
        self._weights: list[int] = []
        self._pass: list[float] = []
        self._stamp: list[int] = []
        # Requests still in flight on targets that left the set, by key
        self._departed: dict[str, int] = {}
        # The heap of (load, pass, stamp, index); an entry is live while stamp == _stamp[index]
        self._heap: list[tuple[float, float, int, int]] = []
        self._stamps = 0
        # Virtual time: the pass at which the latest request started
        self._vtime = 0.0

    # Books

    def in_flight(self, target: T) -> int:
        """Requests in flight on ``target`` as this algorithm counts them."""
        index = self._index.get(target.key)
        return self._departed.get(target.key, 0) if index is None else self._active[index]

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        old_index, old_active, old_pass = self._index, self._active, self._pass
        super().update(targets, now)
        departed = self._departed
        for key, i in old_index.items():
            if old_active[i]:
                departed[key] = old_active[i]
        self._index = {target.key: i for i, target in enumerate(self.targets)}
        self._active = [departed.pop(target.key, 0) for target in self.targets]
        self._pass = [old_pass[old_index[t.key]] if t.key in old_index else self._vtime for t in self.targets]
        self._weights = [self._weight(target) if self.weighted else 1 for target in self.targets]
        self._stamp = [0] * len(self.targets)
        self._rebuild_heap()

    def _weights_changed(self, keys: list[str], now: float) -> None:
        for key in keys:
            i = self._index.get(key)
            if i is not None:
                self._weights[i] = self._weight(self.targets[i])
                self._push(i)

    def _rebuild_heap(self) -> None:
        active, weights, passes = self._active, self._weights, self._pass
        stamps = self._stamp
        self._heap = [(active[i] / weights[i], passes[i], stamps[i], i) for i in range(len(self.targets))]
        heapify(self._heap)

    def _push(self, i: int) -> None:
        """Target ``i``'s load or pass moved: give it a fresh entry; its old one goes stale."""
        self._stamps += 1
        stamp = self._stamp[i] = self._stamps
        heap = self._heap
        heappush(heap, (self._active[i] / self._weights[i], self._pass[i], stamp, i))
        if len(heap) > COMPACT_FACTOR * len(self._stamp) + COMPACT_SLACK:
            self._rebuild_heap()

    def on_start(self, target: T, now: float = 0.0) -> None:
        i = self._index.get(target.key)
        if i is None:
            self._departed[target.key] = self._departed.get(target.key, 0) + 1
            return
        self._active[i] += 1
        # Start-time fair queueing: start no earlier than the virtual time, finish one stride later.
        start = max(self._pass[i], self._vtime)
        self._vtime = start
        self._pass[i] = start + 1.0 / self._weights[i]
        self._push(i)

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:
        i = self._index.get(target.key)
        if i is None:
            count = self._departed.get(target.key, 0)
            if count > 1:
                self._departed[target.key] = count - 1
            else:
                self._departed.pop(target.key, None)
            return
        if self._active[i] > 0:
            self._active[i] -= 1
            self._push(i)

    # Choice

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        self._tick(now)
        heap, stamps = self._heap, self._stamp
        while heap:
            top = heap[0]
            if stamps[top[3]] == top[2]:
                break
            heappop(heap)
        else:
            return None
        target = self.targets[top[3]]
        exclude = context.exclude
        if exclude and is_excluded(target, exclude):
            return self._pick_excluding(exclude, target)
        return target

    def _pick_excluding(self, exclude: Collection[object], first: T) -> T:
        """The least loaded target not excluded: pop live entries until one is allowed, then put them back."""
        heap, stamps, targets = self._heap, self._stamp, self.targets
        popped = []
        found = first
        while heap:
            entry = heappop(heap)
            if stamps[entry[3]] != entry[2]:
                continue
            popped.append(entry)
            candidate = targets[entry[3]]
            if not is_excluded(candidate, exclude):
                found = candidate
                break
        for entry in popped:
            heappush(heap, entry)
        return found
