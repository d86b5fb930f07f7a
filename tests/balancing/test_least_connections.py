"""Least connections: O(log n), ties shared, never the busier of two available targets."""

from __future__ import annotations

from collections import Counter

from hypothesis import settings

from laneway.balancing import LeastConnections, PickContext
from tests.balancing.machines import LeastLoadedMachine
from tests.balancing.support import CountingServer, Server, sequential, servers


def started(balancer: LeastConnections[Server], target: Server, count: int) -> None:
    for _ in range(count):
        balancer.on_start(target, 0.0)


def test_the_chapters_example_goes_to_the_server_with_three() -> None:
    pool = servers(1, 1, 1, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update(pool, 0.0)
    for target, count in zip(pool, (5, 3, 8, 6), strict=True):
        started(balancer, target, count)
    assert balancer.pick() is pool[1]


def test_equal_servers_take_turns_when_idle_not_the_first_every_time() -> None:
    pool = servers(1, 1, 1, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update(pool, 0.0)
    keys = sequential(balancer, 400)
    assert Counter(keys) == {"s0": 100, "s1": 100, "s2": 100, "s3": 100}
    assert keys[:8] == ["s0", "s1", "s2", "s3"] * 2


def test_rounds_of_three_concurrent_requests_spread_over_three_servers() -> None:
    pool = servers(1, 1, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update(pool, 0.0)
    for _ in range(50):
        round_ = []
        for _ in range(3):
            target = balancer.pick()
            assert target is not None
            balancer.on_start(target, 0.0)
            round_.append(target)
        assert sorted(t.key for t in round_) == ["s0", "s1", "s2"]
        for target in round_:
            balancer.on_end(target, 0.0, 0.0, False)


def test_weights_are_ignored() -> None:
    pool = servers(5, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update(pool, 0.0)
    assert Counter(sequential(balancer, 100)) == {"s0": 50, "s1": 50}


def test_a_quiet_spell_after_a_busy_one_sends_no_burst_to_the_laggard() -> None:
    """s0 was picked much more than s1 while s1 was busy; once both idle they alternate."""
    a, b = servers(1, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update([a, b], 0.0)
    started(balancer, b, 1)  # b is stuck on a long request
    assert set(sequential(balancer, 200)) == {"s0"}
    balancer.on_end(b, 10.0, 10.0, False)
    assert sequential(balancer, 6, start=10.0) in (["s1", "s0"] * 3, ["s0", "s1"] * 3)


def test_exclude_takes_the_least_loaded_of_the_rest() -> None:
    pool = servers(1, 1, 1)
    balancer: LeastConnections[Server] = LeastConnections()
    balancer.update(pool, 0.0)
    started(balancer, pool[1], 2)
    started(balancer, pool[2], 1)
    assert balancer.pick(PickContext(exclude=(pool[0],))) is pool[2]
    assert balancer.pick(PickContext(exclude={"s0", "s2"})) is pool[1]
    assert balancer.pick() is pool[0], "excluded entries go back into the heap"


def test_a_pick_and_its_books_read_a_few_targets_not_all_ten_thousand() -> None:
    """Not a timing: an O(n) scan would read every target's key or weight on every pick."""
    pool = [CountingServer(f"10.0.{i // 256}.{i % 256}:80") for i in range(10_000)]
    balancer: LeastConnections[CountingServer] = LeastConnections()
    balancer.update(pool, 0.0)
    CountingServer.reads = 0
    outstanding = []
    for _ in range(1000):
        target = balancer.pick()
        assert target is not None
        balancer.on_start(target, 0.0)
        outstanding.append(target)
        if len(outstanding) > 50:
            balancer.on_end(outstanding.pop(0), 0.0, 0.0, False)
    assert CountingServer.reads <= 3 * 1000
    assert len(balancer._heap) <= 2 * len(pool) + 32


LeastLoadedMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLeastConnectionsMachine = LeastLoadedMachine.TestCase
