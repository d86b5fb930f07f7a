"""Consistent hashing on a ring (ketama), with weights, bounded loads and slow start.

The chapter's ``hash(ip) % len(servers)`` sends a key to a server by its position in the list:
add or remove one server of N and almost every key (N/(N+1) of them) moves, so almost every
session is lost. On a ring (Karger et al., 1997; "ketama", as NGINX ``hash ... consistent`` and
HAProxy ``hash-type consistent``) each target owns many points on a circle of 2**40 positions
and a key goes to the owner of the first point at or after the key's own position. Adding a
target moves only the keys that now land on its points, about 1/(N+1) of them, and removing
one moves only its own keys, about 1/N.

Points. ``replicas`` points per unit of weight (160 by default, as ketama and NGINX), so
shares follow weights; a point's position depends only on its target's key and number, never
on the other targets. Above ``MAX_POINTS`` points in all, every target's count is scaled down
by the same factor. Positions and key hashes come from BLAKE2b, never Python's ``hash()``,
which is salted per process: every worker and every instance must map a key alike.

Bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads",
2018; HAProxy ``hash-balance-factor``). With ``bound`` c, a target may have at most
``ceil(c * (m + 1) * weight / W)`` requests in flight, where m is the total in flight and W the
total weight: a key whose target is full walks on clockwise to the next target with room. One
always has room (the caps add up to at least c * (m + 1) > m), so no target goes above
``ceil(c * average)`` and a hot key spills over to its neighbours instead of sinking a server.

Slow start. A returning target keeps all its points (its keys come back to it) but accepts a
key only when a second hash of the key, uniform in [0, 1), is below its ramp fraction; the
other keys walk on as if it were absent. As the fraction grows its keys come home a few at a
time, the same keys every time.

No key (no client address, no hash key): a random position on the ring, so weights, the bound
and exclude still apply. ``exclude`` and full or ramping targets are skipped by the same walk.

Costs. A pick is a bisection, O(log P) for P points, plus the walk when targets are skipped.
``update`` moves only the points of the targets that came, went or changed weight (each one a
bisection and a memmove); a change to more than an eighth of the ring rebuilds it, O(P log P).
"""

from __future__ import annotations

import math
import random
import struct
from abc import abstractmethod
from array import array
from bisect import bisect_left, insort
from collections.abc import Collection, Sequence
from fractions import Fraction
from hashlib import blake2b

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, check_number, is_excluded

# A ceiling on the ring's size (8 MiB): beyond it every target gets fewer points.
MAX_POINTS = 1 << 20
# A point is one unsigned 64-bit word: its 40-bit position on the ring in the high bits and its
# target's id in the low 24. Sorting the words sorts by position, a bisection finds a key's
# successor, and the owner is read off the same word: one array, no second lookup.
_INDEX_BITS = 24
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_POSITION_MASK = ((1 << 64) - 1) ^ _INDEX_MASK
# A change that moves more than 1/_REBUILD_SHARE of the ring's points rebuilds it from scratch;
# smaller ones (a server down or back) move only that server's points.
_REBUILD_SHARE = 8
_TWO_64 = float(1 << 64)
_EIGHT_U64 = struct.Struct("<8Q")


def key_hash(key: str) -> tuple[int, float]:
    """``key``'s place on the ring (a point word with id 0) and a second, independent draw in
    [0, 1) (for slow start)."""
    position, second = struct.unpack("<2Q", blake2b(key.encode(), digest_size=16).digest())
    return position & _POSITION_MASK, second / _TWO_64


def target_points(key: str, count: int) -> list[int]:
    """The ``count`` ring positions of the target called ``key`` (64-bit; the ring keeps the
    high 40 bits): 8 per BLAKE2b digest."""
    points: list[int] = []
    block = 0
    while len(points) < count:
        points.extend(_EIGHT_U64.unpack(blake2b(f"{key}#{block}".encode(), digest_size=64).digest()))
        block += 1
    del points[count:]
    return points


class ConsistentHash(Balancer[T]):
    """A ketama ring; subclasses say which part of the request is the key (``_key``)."""

    def __init__(self, rng: random.Random | None = None, *, replicas: int = 160, bound: float | None = None,
                 slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        name = self.name or type(self).__name__
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 10_000:
            raise ValueError(f"{name}: replicas must be a whole number from 1 to 10000, got {replicas!r}; "
                             f"use 160 (ketama's) or more for a more even spread")
        self.replicas = replicas
        self.bound = None if bound is None else check_number(
            name, "bound", bound, minimum=1.0, hint="; use e.g. 1.25 (no target above 125% of the average), "
            "or leave it unset to turn the bound off")
        # The bound as an exact fraction, so the cap is computed in integers.
        bound_ratio = Fraction(self.bound).limit_denominator(1000) if self.bound is not None else Fraction(1)
        self._bound_num, self._bound_den = bound_ratio.numerator, bound_ratio.denominator
        # The ring: sorted point words (position << 24 | target id). Ids are stable per key
        # while the key is on the ring, so a change moves only the changed targets' points.
        self._ring = array("Q")
        self._ids: dict[str, int] = {}
        self._by_id: list[T | None] = []
        self._free_ids: list[int] = []
        self._counts: dict[str, int] = {}  # points per key on the ring
        self._scale = 0
        # In flight by key (current and departed targets), and the current targets' total
        self._active: dict[str, int] = {}
        self._total_active = 0
        self._total_weight = 0

    @abstractmethod
    def _key(self, context: PickContext) -> str | None:
        """The part of the request that is hashed; None when the request has none."""

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        super().update(targets, now)
        if len(self.targets) > _INDEX_MASK:
            raise ValueError(f"{self.name}: at most {_INDEX_MASK} targets, got {len(self.targets)}")
        self._total_weight = sum(target.weight for target in self.targets)
        self._total_active = sum(self._active.get(target.key, 0) for target in self.targets)
        wanted = self.replicas * self._total_weight
        scale = -(-wanted // MAX_POINTS) if wanted > MAX_POINTS else 1
        counts = {target.key: max(1, self.replicas * target.weight // scale) for target in self.targets}
        old = self._counts
        leaving = [key for key, count in old.items() if counts.get(key) != count]
        coming = [key for key, count in counts.items() if old.get(key) != count]
        moved_points = sum(old[key] for key in leaving) + sum(counts[key] for key in coming)
        if scale != self._scale or moved_points * _REBUILD_SHARE > len(self._ring):
            self._rebuild(counts)
        else:
            self._change(leaving, coming, counts)
        self._scale, self._counts = scale, counts
        for target in self.targets:
            self._by_id[self._ids[target.key]] = target

    def _new_id(self, key: str) -> int:
        if self._free_ids:
            ident = self._free_ids.pop()
        else:
            ident = len(self._by_id)
            self._by_id.append(None)
        self._ids[key] = ident
        return ident

    def _drop_id(self, key: str) -> None:
        ident = self._ids.pop(key)
        self._by_id[ident] = None
        self._free_ids.append(ident)

    def _words(self, key: str, count: int) -> list[int]:
        ident = self._ids[key]
        return [position & _POSITION_MASK | ident for position in target_points(key, count)]

    def _rebuild(self, counts: dict[str, int]) -> None:
        """Every point anew: O(P log P)."""
        for key in [key for key in self._ids if key not in counts]:
            self._drop_id(key)
        words: list[int] = []
        for key, count in counts.items():
            if key not in self._ids:
                self._new_id(key)
            words.extend(self._words(key, count))
        words.sort()
        self._ring = array("Q", words)

    def _change(self, leaving: list[str], coming: list[str], counts: dict[str, int]) -> None:
        """Take out the points of the targets that left or changed, put in the new ones."""
        ring = self._ring
        for key in leaving:
            for word in self._words(key, self._counts[key]):
                i = bisect_left(ring, word)
                if i < len(ring) and ring[i] == word:
                    del ring[i]
            if key not in counts:
                self._drop_id(key)
        for key in coming:
            if key not in self._ids:
                self._new_id(key)
            for word in self._words(key, counts[key]):
                insort(ring, word)

    def in_flight(self, target: T) -> int:
        """Requests in flight on ``target`` as this algorithm counts them (for the bound)."""
        return self._active.get(target.key, 0)

    def on_start(self, target: T, now: float = 0.0) -> None:
        key = target.key
        self._active[key] = self._active.get(key, 0) + 1
        if key in self._ids:
            self._total_active += 1

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:
        key = target.key
        count = self._active.get(key, 0)
        if not count:
            return
        if count > 1:
            self._active[key] = count - 1
        else:
            del self._active[key]
        if key in self._ids:
            self._total_active -= 1

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        self._tick(now)
        ring = self._ring
        if not ring:
            return None
        key = self._key(context)
        if key is None:
            position, draw = self.rng.getrandbits(64) & _POSITION_MASK, self.rng.random()
        else:
            position, draw = key_hash(key)
        start = bisect_left(ring, position)
        if start == len(ring):
            start = 0
        if self.bound is None and self._ramp_due == math.inf and not context.exclude:
            target = self._by_id[ring[start] & _INDEX_MASK]
            assert target is not None
            return target
        return self._walk(start, draw, context.exclude)

    def _has_room(self, target: T) -> bool:
        """Whether ``target`` may take one more request under the bound (always, when off)."""
        if self.bound is None:
            return True
        # active + 1 <= ceil(c * (m + 1) * weight / W), in integers with c = num / den.
        room = self._bound_num * (self._total_active + 1) * target.weight
        cap = -(-room // (self._bound_den * self._total_weight))
        return self._active.get(target.key, 0) + 1 <= cap

    def _walk(self, start: int, draw: float, exclude: Collection[object]) -> T:
        """Clockwise from ``start``: the first target not excluded, ramped in and with room."""
        ring, by_id = self._ring, self._by_id
        count = len(ring)
        distinct = len(self.targets)
        seen: set[int] = set()
        first: T | None = None
        allowed: T | None = None
        for step in range(count):
            ident = ring[(start + step) % count] & _INDEX_MASK
            if ident in seen:
                continue
            seen.add(ident)
            target = by_id[ident]
            assert target is not None
            if first is None:
                first = target
            if not exclude or not is_excluded(target, exclude):
                if allowed is None:
                    allowed = target
                if draw < self._ramp_fraction(target) and self._has_room(target):
                    return target
            if len(seen) == distinct:
                break
        # Nothing qualifies (everything excluded, ramping or full): the key's own target
        # among those not excluded, or among all.
        result = allowed if allowed is not None else first
        assert result is not None
        return result
