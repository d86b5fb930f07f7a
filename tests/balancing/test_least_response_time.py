"""Least response time: peak-EWMA with time decay, times (in flight + 1); no history is probed."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from laneway.balancing import LeastResponseTime
from tests.balancing.support import Server, servers


def observed(balancer: LeastResponseTime[Server], target: Server, latency: float, at: float,
             failed: bool = False) -> None:
    balancer.on_start(target, at - latency)
    balancer.on_end(target, at, latency, failed)


def test_a_slower_sample_replaces_the_estimate_at_once() -> None:
    (a,) = servers(1)
    balancer: LeastResponseTime[Server] = LeastResponseTime()
    balancer.update([a], 0.0)
    observed(balancer, a, 0.010, 1.0)
    observed(balancer, a, 0.200, 1.001)
    assert balancer.estimate(a, 1.001) == 0.200


def test_a_faster_sample_moves_the_estimate_by_the_time_since_the_last() -> None:
    (a,) = servers(1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(decay=10.0)
    balancer.update([a], 0.0)
    observed(balancer, a, 0.100, 1.0)
    observed(balancer, a, 0.010, 6.0)
    keep = math.exp(-5.0 / 10.0)
    assert balancer.estimate(a, 6.0) == pytest.approx(0.100 * keep + 0.010 * (1 - keep))


def test_without_samples_the_estimate_decays_towards_zero() -> None:
    (a,) = servers(1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(decay=10.0)
    balancer.update([a], 0.0)
    observed(balancer, a, 1.0, 0.0)
    assert balancer.estimate(a, 10.0) == pytest.approx(math.exp(-1.0))
    assert balancer.estimate(a, 100.0) == pytest.approx(math.exp(-10.0))


def test_the_faster_server_wins_and_in_flight_counts() -> None:
    fast, slow = servers(1, 1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(random.Random(1))
    balancer.update([fast, slow], 0.0)
    observed(balancer, fast, 0.010, 1.0)
    observed(balancer, slow, 0.100, 1.0)
    assert balancer.pick(now=1.0) is fast
    for _ in range(10):  # 0.010 * (10 + 1) = 0.11 > 0.100 * (0 + 1)
        balancer.on_start(fast, 1.0)
    assert balancer.pick(now=1.0) is slow


def test_a_new_server_is_probed_once_not_flooded() -> None:
    """The chapter assumes no history means fast (0) and sends it everything."""
    pool = servers(1, 1, 1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(random.Random(2))
    balancer.update(pool[:2], 0.0)
    for k in range(20):
        observed(balancer, pool[0], 0.050, 0.1 * k + 0.1)
        observed(balancer, pool[1], 0.050, 0.1 * k + 0.1)
    balancer.update(pool, 3.0)
    picks: Counter[str] = Counter()
    for _ in range(30):
        target = balancer.pick(now=3.0)
        assert target is not None
        balancer.on_start(target, 3.0)
        picks[target.key] += 1
    assert 1 <= picks["s2"] <= 12, "one probe, then an average server's share, never all"
    assert balancer.estimate(pool[2], 3.0) is None


def test_the_typical_latency_is_the_default_or_the_mean_of_the_measured() -> None:
    pool = servers(1, 1, 1)
    mean: LeastResponseTime[Server] = LeastResponseTime()
    fixed: LeastResponseTime[Server] = LeastResponseTime(default_rtt=0.5)
    for balancer in (mean, fixed):
        balancer.update(pool, 0.0)
        observed(balancer, pool[0], 0.010, 1.0)
        observed(balancer, pool[1], 0.030, 1.0)
    assert mean.typical() == pytest.approx(0.020)
    assert fixed.typical() == 0.5
    mean.update(pool[1:], 2.0)
    assert mean.typical() == pytest.approx(0.030)


def test_a_fast_failure_does_not_make_a_server_look_fast() -> None:
    good, bad = servers(1, 1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(random.Random(3))
    balancer.update([good, bad], 0.0)
    observed(balancer, good, 0.050, 1.0)
    observed(balancer, bad, 0.050, 1.0)
    observed(balancer, bad, 0.001, 1.1, failed=True)  # connection refused in 1 ms
    bad_estimate = balancer.estimate(bad, 1.1)
    assert bad_estimate is not None and bad_estimate >= 0.1
    assert balancer.pick(now=1.1) is good


def test_weights_divide_the_cost() -> None:
    big, small = Server("big", 4), Server("small", 1)
    balancer: LeastResponseTime[Server] = LeastResponseTime(random.Random(4))
    balancer.update([big, small], 0.0)
    observed(balancer, big, 0.030, 1.0)
    observed(balancer, small, 0.010, 1.0)
    assert balancer.pick(now=1.0) is big  # 0.030 / 4 < 0.010 / 1
