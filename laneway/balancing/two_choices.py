"""The power of two choices, shared by ``least_request`` and ``least_response_time``.

Draw two distinct targets at random and send the request to the better one (Mitzenmacher,
"The Power of Two Choices in Randomized Load Balancing", 2001). Two draws instead of one take
the expected worst load from O(log n / log log n) down to O(log log n); O(1) per pick whatever
the pool size, and no shared ordering to keep, so it also behaves well when several balancers
that do not talk to each other (workers, instances) pick from the same servers.

A subclass says what "better" means (``_better``) and keeps its per-target books in a
``Books`` subclass; this class draws, honours ``exclude``, counts requests in flight and keeps
the books by key across ``update``.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Collection, Sequence
from typing import Generic, TypeVar

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, T, is_excluded

# Redraws for a candidate that is excluded, before filtering the excluded out in O(n).
_REDRAWS = 8


class Books:
    """What an algorithm keeps per target; subclasses add their own fields."""

    __slots__ = ("active", "current")

    def __init__(self) -> None:
        self.active = 0
        # Whether the target is in the current set (False: departed, requests still in flight).
        self.current = False


B = TypeVar("B", bound=Books)


class TwoChoices(Balancer[T], Generic[T, B]):
    """Two random candidates, the better one wins."""

    def __init__(self, rng: random.Random | None = None, *, slow_start: float = 0.0) -> None:
        super().__init__(rng, slow_start=slow_start)
        # Books by key: the current targets' and those of departed targets with requests in flight
        self._books: dict[str, B] = {}
        # Per target index (rebuilt by update): its books and its effective weight
        self._at: list[B] = []
        self._weights: list[int] = []
        self._equal_weights = True

    @abstractmethod
    def _new_books(self) -> B:
        """Fresh books for a target seen for the first time."""

    @abstractmethod
    def _better(self, i: int, j: int, now: float) -> int:
        """``i`` or ``j``: the index of the candidate that should take the request."""

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        super().update(targets, now)
        books = self._books
        for entry in self._at:
            entry.current = False
        self._at = [books.get(target.key) or books.setdefault(target.key, self._new_books())
                    for target in self.targets]
        for entry in self._at:
            entry.current = True
        for key in [key for key, entry in books.items() if not entry.current and not entry.active]:
            del books[key]
        self._weights_changed([], now)

    def _weights_changed(self, keys: list[str], now: float) -> None:
        self._weights = [self._weight(target) for target in self.targets]
        self._equal_weights = len(set(self._weights)) <= 1

    def in_flight(self, target: T) -> int:
        """Requests in flight on ``target`` as this algorithm counts them."""
        books = self._books.get(target.key)
        return 0 if books is None else books.active

    def _books_of(self, target: T) -> B:
        books = self._books.get(target.key)
        if books is None:
            books = self._books[target.key] = self._new_books()
        return books

    def on_start(self, target: T, now: float = 0.0) -> None:
        self._books_of(target).active += 1

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:
        books = self._books.get(target.key)
        if books is not None and books.active > 0:
            books.active -= 1
            if not books.active and not books.current:
                del self._books[target.key]

    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        self._tick(now)
        targets = self.targets
        count = len(targets)
        if count <= 1:
            return targets[0] if count else None
        randrange = self.rng.randrange
        i = randrange(count)
        j = randrange(count - 1)
        if j >= i:
            j += 1
        exclude = context.exclude
        if exclude and (is_excluded(targets[i], exclude) or is_excluded(targets[j], exclude)):
            i, j = self._avoid(i, j, exclude)
        return targets[i if i == j else self._better(i, j, now)]

    def _avoid(self, i: int, j: int, exclude: Collection[object]) -> tuple[int, int]:
        """Two candidates (or one twice) among the targets not excluded; (i, j) if all are."""
        targets = self.targets
        count = len(targets)
        randrange = self.rng.randrange
        for _ in range(_REDRAWS):
            if not is_excluded(targets[i], exclude):
                break
            i = randrange(count)
        for _ in range(_REDRAWS):
            if j != i and not is_excluded(targets[j], exclude):
                break
            j = randrange(count)
        if i != j and not is_excluded(targets[i], exclude) and not is_excluded(targets[j], exclude):
            return i, j
        allowed = [k for k in range(count) if not is_excluded(targets[k], exclude)]
        if not allowed:
            return i, j if i != j else (i + 1) % count
        if len(allowed) == 1:
            return allowed[0], allowed[0]
        a, b = self.rng.sample(allowed, 2)
        return a, b
