"""The chapter's scenarios, driven through the library on a fake clock.

Fast, fast, slow (10 ms, 10 ms, 100 ms): round robin gives the slow server a third of the
requests, far more than it can serve, and its queue grows; least connections, least response
time and least request see the queue (or the latency) and send it much less.
A 10-second report pins one server; least connections keeps the short requests off it.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from laneway.balancing import LeastResponseTime, create
from tests.balancing.simulation import simulate
from tests.balancing.support import Server, servers

FAST_FAST_SLOW = {"s0": 0.010, "s1": 0.010, "s2": 0.100}


def run(name: str) -> tuple[float, float]:
    """The slow server's share and the 99th-percentile latency, 3000 requests at 150 per second."""
    outcome = simulate(create(name, random.Random(1)), servers(1, 1, 1), FAST_FAST_SLOW,
                       interval=1 / 150, requests=3000)
    return outcome.share("s2"), outcome.percentile(0.99)


def test_round_robin_gives_the_slow_server_a_third_and_its_queue_explodes() -> None:
    share, p99 = run("round_robin")
    assert share == pytest.approx(1 / 3, abs=0.001)
    assert p99 > 10.0  # 50 requests a second into a server that serves 10: seconds of queue


@pytest.mark.parametrize("name", ["least_connections", "least_response_time", "least_request"])
def test_load_aware_algorithms_send_the_slow_server_much_less(name: str) -> None:
    share, p99 = run(name)
    assert share < 0.15
    assert p99 < 0.5
    rr_share, rr_p99 = run("round_robin")
    assert share < rr_share / 2 and p99 < rr_p99 / 20


def test_least_response_time_learns_the_slow_server_is_slow() -> None:
    balancer: LeastResponseTime[Server] = LeastResponseTime(random.Random(2))
    simulate(balancer, servers(1, 1, 1), FAST_FAST_SLOW, interval=1 / 150, requests=1000)
    estimates = {key: balancer.estimate(Server(key), 1000 / 150) or 0.0 for key in FAST_FAST_SLOW}
    assert estimates["s2"] > 3 * max(estimates["s0"], estimates["s1"])


@pytest.mark.parametrize(("name", "pinned_share"), [("least_connections", 0.0), ("round_robin", 1 / 3)])
def test_a_ten_second_report_pins_one_server_and_least_connections_works_around_it(
        name: str, pinned_share: float) -> None:
    """Requests A, B (50 ms), then C (10 s), then short requests every 50 ms for those 10 s."""
    pool = servers(1, 1, 1)
    balancer = create(name, random.Random(3))
    balancer.update(pool, 0.0)
    now = 0.0
    for _ in range(2):  # A and B: short, each over before the next
        target = balancer.pick(now=now)
        assert target is not None
        balancer.on_start(target, now)
        balancer.on_end(target, now + 0.05, 0.05, False)
        now += 0.05
    report = balancer.pick(now=now)  # C: the 10-second report
    assert report is not None
    balancer.on_start(report, now)
    report_ends = now + 10.0
    short: Counter[str] = Counter()
    while now + 0.05 < report_ends:
        now += 0.05
        target = balancer.pick(now=now)
        assert target is not None
        balancer.on_start(target, now)
        balancer.on_end(target, now + 0.04, 0.04, False)
        short[target.key] += 1
    balancer.on_end(report, report_ends, 10.0, False)
    total = sum(short.values())
    assert short[report.key] / total == pytest.approx(pinned_share, abs=0.01)
    others = [short[t.key] for t in pool if t is not report]
    assert max(others) - min(others) <= 1, "the two free servers share the short requests evenly"
