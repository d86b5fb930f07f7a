"""Random: weighted draws from the injected RNG; uniform when weights are equal."""

from __future__ import annotations

import random
from collections import Counter

from laneway.balancing import PickContext, RandomChoice
from tests.balancing.support import Server, sequential, servers


def test_shares_follow_weights() -> None:
    balancer: RandomChoice[Server] = RandomChoice(random.Random(11))
    balancer.update(servers(1, 2, 3, 4), 0.0)
    picks = Counter(sequential(balancer, 20_000))
    for i, weight in enumerate((1, 2, 3, 4)):
        assert abs(picks[f"s{i}"] / 20_000 - weight / 10) < 0.015


def test_equal_weights_draw_uniformly() -> None:
    balancer: RandomChoice[Server] = RandomChoice(random.Random(5))
    balancer.update(servers(2, 2, 2, 2), 0.0)
    picks = Counter(sequential(balancer, 8_000))
    assert all(abs(count - 2_000) < 150 for count in picks.values())


def test_a_retry_with_all_but_one_excluded_finds_the_one() -> None:
    pool = servers(*[1] * 50)
    balancer: RandomChoice[Server] = RandomChoice(random.Random(1))
    balancer.update(pool, 0.0)
    for _ in range(20):
        assert balancer.pick(PickContext(exclude=tuple(pool[1:]))) is pool[0]


def test_the_same_seed_draws_the_same_targets() -> None:
    pool = servers(3, 1, 1)
    first: RandomChoice[Server] = RandomChoice(random.Random(9))
    again: RandomChoice[Server] = RandomChoice(random.Random(9))
    first.update(pool, 0.0)
    again.update(pool, 0.0)
    assert sequential(first, 50) == sequential(again, 50)
