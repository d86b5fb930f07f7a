"""Least request (P2C, the default): fewer in flight wins, Envoy's weighting, rate tie-break."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from laneway.balancing import Balancer, LeastRequest, PickContext, RandomChoice, create
from tests.balancing.support import CountingServer, Server, sequential, servers


def loaded(balancer: LeastRequest[Server], loads: dict[Server, int]) -> None:
    for target, count in loads.items():
        for _ in range(count):
            balancer.on_start(target, 0.0)


def test_of_two_candidates_the_one_with_fewer_in_flight_wins() -> None:
    a, b = servers(1, 1)  # two targets: both are always the candidates
    balancer: LeastRequest[Server] = LeastRequest(random.Random(1))
    balancer.update([a, b], 0.0)
    loaded(balancer, {a: 3, b: 2})
    assert all(balancer.pick() is b for _ in range(50))


def test_the_busiest_server_is_never_picked_among_three() -> None:
    pool = servers(1, 1, 1)
    balancer: LeastRequest[Server] = LeastRequest(random.Random(2))
    balancer.update(pool, 0.0)
    loaded(balancer, {pool[0]: 1, pool[1]: 2, pool[2]: 7})
    picks = Counter(balancer.pick() for _ in range(3000))
    assert picks[pool[2]] == 0
    assert 0.6 < picks[pool[0]] / 3000 < 0.73  # wins two of the three pairs


@pytest.mark.parametrize(("weights", "loads", "winner"), [
    ((3, 1), (5, 1), 1),  # 3/6 == 1/2: a tie, broken by rate per weight: 5/3 > 1/1
    ((3, 1), (4, 1), 0),  # 3/5 > 1/2
    ((3, 1), (6, 1), 1),  # 3/7 < 1/2
    ((10, 1), (0, 0), None),  # both idle, no history: a tie, not "the heavier always"
])
def test_weighted_candidates_compare_weight_over_in_flight_plus_one(
        weights: tuple[int, int], loads: tuple[int, int], winner: int | None) -> None:
    pool = servers(*weights)
    balancer: LeastRequest[Server] = LeastRequest(random.Random(3))
    balancer.update(pool, 0.0)
    loaded(balancer, dict(zip(pool, loads, strict=True)))
    picks = Counter(balancer.pick() for _ in range(100))
    if winner is None:
        assert len(picks) == 2, "a tie with nothing to break it goes to the first (random) draw"
    else:
        assert picks == {pool[winner]: 100}


def test_a_larger_bias_makes_load_count_for_more() -> None:
    pool = servers(4, 1)
    neutral: LeastRequest[Server] = LeastRequest(random.Random(3))
    strong: LeastRequest[Server] = LeastRequest(random.Random(3), bias=2.0)
    for balancer in (neutral, strong):
        balancer.update(pool, 0.0)
        loaded(balancer, {pool[0]: 2, pool[1]: 0})
    assert neutral.pick() is pool[0]  # 4/3 > 1/1
    assert strong.pick() is pool[1]  # 4/9 < 1/1


def test_ties_go_to_the_lower_recent_request_rate() -> None:
    a, b = servers(1, 1)
    balancer: LeastRequest[Server] = LeastRequest(random.Random(4))
    balancer.update([a, b], 0.0)
    for _ in range(5):
        balancer.on_start(a, 0.0)
        balancer.on_end(a, 0.0, 0.0, False)
    assert all(balancer.pick(now=0.1) is b for _ in range(20))


def test_the_rate_decays_with_the_clock() -> None:
    a, b = servers(1, 1)
    balancer: LeastRequest[Server] = LeastRequest(random.Random(4), rate_decay=1.0)
    balancer.update([a, b], 0.0)
    for _ in range(3):
        balancer.on_start(a, 0.0)
        balancer.on_end(a, 0.0, 0.0, False)
    balancer.on_start(b, 4.0)
    balancer.on_end(b, 4.0, 0.0, False)
    # At t=4.5: a's 3 * e^-4.5 = 0.033 is below b's 1 * e^-0.5 = 0.61.
    assert balancer.pick(now=4.5) is a


def test_a_big_idle_pool_stays_even_where_random_does_not() -> None:
    """1000 servers, requests one at a time (1 ms apart): every candidate pair is an idle tie.

    Over the last 2000 requests (two per server on average, two rate_decay time constants),
    the rate tie-break keeps the busiest server and the servers left out far below random's.
    """
    pool = servers(*[1] * 1000)
    outcomes = []
    candidates: list[Balancer[Server]] = [LeastRequest(random.Random(7)), RandomChoice(random.Random(7))]
    for balancer in candidates:
        balancer.update(pool, 0.0)
        recent = Counter(sequential(balancer, 12_000, step=0.001)[-2000:])
        outcomes.append((max(recent.values()), sum(1 for t in pool if not recent[t.key])))
    (p2c_busiest, p2c_left_out), (random_busiest, random_left_out) = outcomes
    assert p2c_busiest <= 5 and p2c_left_out <= 60
    assert random_busiest >= 7 and random_left_out >= 100


def test_idle_servers_share_in_proportion_to_weight() -> None:
    pool = [Server("a", 3), Server("b", 1)]
    balancer: LeastRequest[Server] = LeastRequest(random.Random(8))
    balancer.update(pool, 0.0)
    picks = Counter(sequential(balancer, 4000, step=0.01))
    assert 0.70 < picks["a"] / 4000 < 0.80


def test_exclude_is_honoured_with_most_targets_excluded() -> None:
    pool = servers(*[1] * 40)
    balancer = create("least_request", random.Random(5))
    balancer.update(pool, 0.0)
    keep = {pool[7], pool[30]}
    exclude = tuple(t for t in pool if t not in keep)
    assert {balancer.pick(PickContext(exclude=exclude)) for _ in range(100)} == keep


def test_a_pick_is_constant_work_at_ten_thousand_servers() -> None:
    pool = [CountingServer(f"s{i}") for i in range(10_000)]
    balancer: LeastRequest[CountingServer] = LeastRequest(random.Random(6))
    balancer.update(pool, 0.0)
    CountingServer.reads = 0
    for k in range(1000):
        target = balancer.pick(now=k * 0.001)
        assert target is not None
        balancer.on_start(target, k * 0.001)
        balancer.on_end(target, k * 0.001, 0.001, False)
    assert CountingServer.reads <= 2 * 1000
