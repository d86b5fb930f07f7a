"""Slow start: implemented once (base + slow_start.py), applied to every weighted algorithm."""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest

from laneway.balancing import PickContext, WeightedLeastConnections, create
from laneway.balancing.slow_start import STEPS, SlowStart
from tests.balancing.support import Server, sequential, servers

WEIGHTED = ["random", "weighted_round_robin", "weighted_least_connections", "least_request",
            "least_response_time", "ip_hash", "hash"]


def test_the_ramp_goes_in_steps_and_is_full_exactly_at_the_end_of_the_window() -> None:
    ramp = SlowStart(9.0)
    ramp.start("a", 100.0)
    assert ramp.fraction("a") == 1 / STEPS
    assert ramp.due == 101.0
    assert ramp.advance(100.5) == [] and ramp.fraction("a") == 1 / STEPS
    assert ramp.advance(101.0) == ["a"] and ramp.fraction("a") == 2 / STEPS
    assert ramp.advance(105.2) == ["a"] and ramp.fraction("a") == 6 / STEPS
    assert ramp.advance(108.999) == ["a"] and ramp.fraction("a") == 9 / STEPS
    assert ramp.advance(109.0) == ["a"] and ramp.fraction("a") == 1.0
    assert ramp.due == float("inf") and not ramp.since


def test_a_step_due_exactly_now_is_taken_once() -> None:
    ramp = SlowStart(0.3)
    ramp.start("a", 0.1)
    due = ramp.due
    assert ramp.advance(due) == ["a"]
    assert ramp.due > due
    assert ramp.advance(due) == []


@pytest.mark.parametrize("name", WEIGHTED)
def test_the_first_set_does_not_ramp_but_a_returning_target_does(name: str) -> None:
    pool = servers(1, 1, 1, 1)
    balancer = create(name, slow_start=10.0)
    balancer.update(pool, 0.0)
    assert all(balancer._ramp_fraction(target) == 1.0 for target in pool)
    balancer.update(pool[1:], 5.0)
    balancer.update(pool, 6.0)
    assert balancer._ramp_fraction(pool[0]) == 1 / STEPS
    assert balancer._ramp_fraction(pool[1]) == 1.0


@pytest.mark.parametrize("name", WEIGHTED)
def test_a_returning_target_gets_a_small_share_that_grows_to_its_full_share(name: str) -> None:
    pool = servers(*[1] * 10)
    back = pool[0]
    balancer = create(name, random.Random(3), slow_start=10.0)
    balancer.update(pool, 0.0)
    balancer.update(pool[1:], 1.0)
    balancer.update(pool, 100.0)

    def share(at: float) -> float:
        """The returning server's share of 2000 requests at ``at``, 20 in flight at a time."""
        keys = [f"client-{k}" for k in range(2000)]
        picks: Counter[str] = Counter()
        in_flight: deque[Server] = deque()
        for key in keys:
            target = balancer.pick(PickContext(client_address=key, hash_key=key), at)
            assert target is not None
            balancer.on_start(target, at)
            in_flight.append(target)
            if len(in_flight) > 20:
                balancer.on_end(in_flight.popleft(), at, 0.01, False)
            picks[target.key] += 1
        while in_flight:
            balancer.on_end(in_flight.popleft(), at, 0.01, False)
        return picks[back.key] / len(keys)

    early, middle, late = share(100.0), share(105.0), share(111.0)
    assert early < 0.05, "a cold server must start well below its tenth of the traffic"
    assert early < middle < late
    assert 0.06 < late < 0.15, "after the window it takes its full share again"


def test_slow_start_is_refused_by_the_algorithms_that_ignore_weights() -> None:
    for name in ("round_robin", "least_connections"):
        with pytest.raises(ValueError, match="has no option 'slow_start'"):
            create(name, slow_start=30.0)


def test_slow_start_must_be_seconds_not_negative() -> None:
    with pytest.raises(ValueError, match=r"weighted_round_robin: slow_start must be >= 0, got -1"):
        create("weighted_round_robin", slow_start=-1)


def test_a_ramping_target_keeps_its_keys_coming_home_few_at_a_time_under_hashing() -> None:
    pool = servers(1, 1, 1, 1)
    balancer = create("hash", slow_start=9.0)
    balancer.update(pool, 0.0)
    keys = [f"user-{k}" for k in range(3000)]
    home = {key: balancer.pick(PickContext(hash_key=key), 0.0) for key in keys}
    balancer.update(pool[1:], 1.0)
    balancer.update(pool, 10.0)
    previous: set[str] = set()
    for at in (10.0, 13.0, 16.0, 19.0):
        now_home = {key for key in keys if balancer.pick(PickContext(hash_key=key), at) is pool[0]}
        assert previous <= now_home, "keys that came home stay home as the ramp grows"
        assert all(home[key] is pool[0] for key in now_home), "only its own keys come back"
        previous = now_home
    assert previous == {key for key in keys if home[key] is pool[0]}


def test_least_connections_under_slow_start_caps_a_returning_servers_concurrency() -> None:
    pool = [Server("old", 1), Server("new", 1)]
    balancer: WeightedLeastConnections[Server] = WeightedLeastConnections(slow_start=9.0)
    balancer.update(pool, 0.0)
    balancer.update(pool[:1], 1.0)
    balancer.update(pool, 2.0)
    for _ in range(100):
        target = balancer.pick(now=2.0)
        assert target is not None
        balancer.on_start(target, 2.0)
    assert balancer.in_flight(pool[1]) <= 100 / (STEPS + 1) + 1
    assert sequential(balancer, 1, start=11.0)  # the ramp finished: picks still work
