"""The shared power-of-two-choices skeleton: distinct candidates, exclude, books kept by key."""

from __future__ import annotations

import random
from collections import Counter

from laneway.balancing import LeastRequest, PickContext
from laneway.balancing.two_choices import Books, TwoChoices
from tests.balancing.support import Server, servers


class Recording(TwoChoices[Server, Books]):
    """Records every pair it is asked to compare; the first candidate always wins."""

    name = "recording"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.pairs: list[tuple[int, int]] = []

    def _new_books(self) -> Books:
        return Books()

    def _better(self, i: int, j: int, now: float) -> int:
        self.pairs.append((i, j))
        return i


def test_the_two_candidates_are_distinct_and_every_pair_is_drawn_alike() -> None:
    balancer = Recording(random.Random(1))
    balancer.update(servers(1, 1, 1, 1), 0.0)
    for _ in range(6000):
        balancer.pick()
    assert all(i != j for i, j in balancer.pairs)
    pairs = Counter(frozenset(pair) for pair in balancer.pairs)
    assert len(pairs) == 6 and all(850 < count < 1150 for count in pairs.values())


def test_one_target_left_by_exclude_is_picked_without_a_comparison() -> None:
    pool = servers(1, 1, 1)
    balancer = Recording(random.Random(2))
    balancer.update(pool, 0.0)
    assert balancer.pick(PickContext(exclude=(pool[0], pool[2]))) is pool[1]
    assert balancer.pairs == []


def test_exclude_leaves_the_comparison_to_the_allowed_targets() -> None:
    pool = servers(*[1] * 10)
    balancer = Recording(random.Random(3))
    balancer.update(pool, 0.0)
    allowed = {2, 5, 7}
    exclude = tuple(t for i, t in enumerate(pool) if i not in allowed)
    for _ in range(200):
        balancer.pick(PickContext(exclude=exclude))
    assert {i for pair in balancer.pairs for i in pair} == allowed


def test_books_follow_keys_across_updates_and_departed_ones_are_dropped_when_idle() -> None:
    a, b = servers(1, 1)
    balancer: LeastRequest[Server] = LeastRequest(random.Random(4))
    balancer.update([a, b], 0.0)
    balancer.on_start(b, 0.0)
    balancer.on_start(b, 0.0)
    balancer.update([a], 1.0)
    assert balancer.in_flight(b) == 2, "still counted while its requests run"
    balancer.on_end(b, 2.0, 2.0, False)
    balancer.update([a, b], 3.0)
    assert balancer.in_flight(b) == 1
    balancer.update([a], 4.0)
    balancer.on_end(b, 5.0, 5.0, False)
    assert "s1" not in balancer._books, "a departed target's books go when its last request ends"
