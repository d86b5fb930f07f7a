"""Round robin: each in turn, weights ignored, position kept across updates, exclude skips."""

from __future__ import annotations

from collections import Counter

from laneway.balancing import PickContext, RoundRobin
from tests.balancing.support import Server, sequential, servers


def test_each_server_in_turn_as_the_chapter_shows() -> None:
    balancer: RoundRobin[Server] = RoundRobin()
    balancer.update(servers(1, 1, 1, 1), 0.0)
    assert sequential(balancer, 6) == ["s0", "s1", "s2", "s3", "s0", "s1"]


def test_weights_are_ignored() -> None:
    balancer: RoundRobin[Server] = RoundRobin()
    balancer.update(servers(5, 1), 0.0)
    assert Counter(sequential(balancer, 10)) == {"s0": 5, "s1": 5}


def test_the_position_survives_an_update() -> None:
    pool = servers(1, 1, 1, 1)
    balancer: RoundRobin[Server] = RoundRobin()
    balancer.update(pool, 0.0)
    assert sequential(balancer, 3) == ["s0", "s1", "s2"]
    balancer.update(pool[:3], 1.0)
    assert sequential(balancer, 2) == ["s0", "s1"]
    balancer.update(pool, 2.0)
    assert sequential(balancer, 2) == ["s2", "s3"]


def test_exclude_skips_to_the_next_and_the_turn_goes_on_after_it() -> None:
    pool = servers(1, 1, 1)
    balancer: RoundRobin[Server] = RoundRobin()
    balancer.update(pool, 0.0)
    assert balancer.pick(PickContext(exclude=(pool[0],))) is pool[1]
    assert balancer.pick() is pool[2]
    assert balancer.pick(PickContext(exclude={"s0", "s1"})) is pool[2]
