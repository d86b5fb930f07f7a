"""The checker: results reach the pool through set_up at the threshold, with a log line;
checks are spread over the interval; stop() ends them.

Most of these drive ``observe()`` directly (no time at all); the timed ones use a short
interval on the test loop and poll for the outcome with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict

import pytest

from laneway.balancing import create
from laneway.health import HealthChecker, HttpProbe, ProbeResult, Transition
from laneway.upstream import Pool, Server
from tests.support.backend import start_backends, stop_all
from tests.support.balancer import wait_for
from tests.support.faults import closed_port
from tests.support.loop_thread import LoopThread


def make_pool(count: int = 3) -> Pool:
    servers = [Server(f"127.0.0.1:{9001 + index}", "127.0.0.1", 9001 + index) for index in range(count)]
    return Pool("api", servers, create("round_robin", random.Random(0)))


class ScriptedProbe:
    """Answers each server's checks from a script (then passes), recording when it was asked."""

    def __init__(self, script: dict[str, list[bool]] | None = None) -> None:
        self.script = script or {}
        self.asked: dict[str, list[float]] = defaultdict(list)

    async def check(self, server: Server) -> ProbeResult:
        self.asked[server.key].append(asyncio.get_running_loop().time())
        results = self.script.get(server.key)
        ok = results.pop(0) if results else True
        return ProbeResult(ok, "scripted pass" if ok else "scripted failure")


class BrokenProbe:
    async def check(self, server: Server) -> ProbeResult:
        raise RuntimeError("bug in a probe")


FAIL = ProbeResult(False, "connection refused")
PASS = ProbeResult(True, "status 200")


def test_a_server_goes_down_after_fall_failures_and_leaves_the_pool(caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool()
    checker = HealthChecker(pool, ScriptedProbe(), rise=2, fall=3, clock=lambda: 1000.0)
    victim = pool.servers[1]
    caplog.set_level(logging.DEBUG, logger="laneway.health")
    assert [checker.observe(victim, FAIL, 0.01) for _ in range(3)] == [
        Transition.PENDING, Transition.PENDING, Transition.CHANGED]
    assert not victim.up
    assert victim not in pool.available and len(pool.available) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "pools.api server 127.0.0.1:9002 is DOWN after 3 failed checks: connection refused"]
    record = checker.last_check[victim.key]
    assert (record.ok, record.reason) == (False, "connection refused")
    assert (record.at, record.duration) == (1000.0, 0.01)


def test_a_server_comes_back_after_rise_passes(caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool()
    checker = HealthChecker(pool, ScriptedProbe(), rise=2, fall=1)
    victim = pool.servers[0]
    caplog.set_level(logging.INFO, logger="laneway.health")
    assert checker.observe(victim, FAIL) is Transition.CHANGED
    assert checker.observe(victim, PASS) is Transition.PENDING
    assert not victim.up
    assert checker.observe(victim, PASS) is Transition.CHANGED
    assert victim.up and victim in pool.available
    assert caplog.records[-1].levelno == logging.INFO
    assert caplog.records[-1].getMessage() == (
        "pools.api server 127.0.0.1:9001 is UP after 2 passed checks: status 200")


def test_a_server_already_down_must_rise_to_come_back() -> None:
    pool = make_pool()
    pool.set_up(pool.servers[2], False)
    checker = HealthChecker(pool, ScriptedProbe(), rise=2, fall=3)
    assert checker.observe(pool.servers[2], PASS) is Transition.PENDING
    assert checker.observe(pool.servers[2], PASS) is Transition.CHANGED
    assert pool.servers[2].up


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        HealthChecker(make_pool(), ScriptedProbe(), interval=0)
    with pytest.raises(ValueError, match="jitter must be a fraction 0-1 of interval, got 2"):
        HealthChecker(make_pool(), ScriptedProbe(), jitter=2)


def test_jitter_stays_within_its_fraction() -> None:
    checker = HealthChecker(make_pool(), ScriptedProbe(), interval=2.0, jitter=0.1, rng=random.Random(7))
    delays = [checker.next_delay() for _ in range(1000)]
    assert 1.8 <= min(delays) < 1.85 and 2.15 < max(delays) <= 2.2
    steady = HealthChecker(make_pool(), ScriptedProbe(), interval=2.0, jitter=0)
    assert {steady.next_delay() for _ in range(10)} == {2.0}


def test_first_checks_are_spread_over_the_interval(loop_thread: LoopThread) -> None:
    pool = make_pool(4)
    probe = ScriptedProbe()
    interval = 0.4
    checker = HealthChecker(pool, probe, interval=interval, jitter=0.1, rng=random.Random(3))

    async def run() -> float:
        started = asyncio.get_running_loop().time()
        checker.start()
        while sum(len(times) >= 2 for times in probe.asked.values()) < 4:
            await asyncio.sleep(0.01)
        await checker.stop()
        return started

    started = loop_thread.run(run())
    firsts = sorted(times[0] - started for times in probe.asked.values())
    # Server i's first check falls in the i-th quarter of the first interval.
    for index, first in enumerate(firsts):
        assert index * interval / 4 - 0.01 <= first <= (index + 1) * interval / 4 + 0.05, firsts
    for times in probe.asked.values():
        assert interval * 0.9 - 0.01 <= times[1] - times[0] <= interval * 1.1 + 0.05, times


def test_stop_ends_every_check(loop_thread: LoopThread) -> None:
    probe = ScriptedProbe()
    checker = HealthChecker(make_pool(2), probe, interval=0.02)

    async def run() -> int:
        checker.start()
        assert checker.running
        while sum(len(times) for times in probe.asked.values()) < 4:
            await asyncio.sleep(0.005)
        await checker.stop()
        asked = sum(len(times) for times in probe.asked.values())
        await asyncio.sleep(0.1)  # long enough for five more checks each, were any left
        return sum(len(times) for times in probe.asked.values()) - asked

    assert loop_thread.run(run()) == 0
    assert not checker.running


def test_a_probe_that_raises_counts_as_a_failure(loop_thread: LoopThread,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool(1)
    checker = HealthChecker(pool, BrokenProbe(), interval=0.02, rise=1, fall=2)
    caplog.set_level(logging.INFO, logger="laneway.health")
    loop_thread.call(checker.start)
    try:
        wait_for(lambda: not pool.servers[0].up, timeout=5.0, message="the server marked down")
    finally:
        loop_thread.run(checker.stop())
    assert checker.last_check[pool.servers[0].key].reason == "check error: RuntimeError"
    assert any("health check failed unexpectedly" in r.getMessage() for r in caplog.records)


def test_real_http_checks_mark_a_stopped_server_down_and_a_restarted_one_up(loop_thread: LoopThread) -> None:
    [backend] = loop_thread.run(start_backends(1))
    host, port = backend.address
    other = closed_port()
    servers = [Server(f"{host}:{port}", host, port), Server(f"127.0.0.1:{other}", "127.0.0.1", other)]
    pool = Pool("api", servers, create("round_robin", random.Random(0)))
    checker = HealthChecker(pool, HttpProbe(timeout=0.1), interval=0.1, rise=2, fall=2)
    loop_thread.call(checker.start)
    try:
        wait_for(lambda: not servers[1].up, message="the closed port marked down")
        assert servers[0].up and pool.available == [servers[0]]
        assert checker.last_check[servers[1].key].reason == "connection refused"
        loop_thread.run(backend.stop())
        wait_for(lambda: not servers[0].up, message="the stopped backend marked down")
        assert pool.available == []
        loop_thread.run(backend.start(port))
        wait_for(lambda: servers[0].up, message="the restarted backend marked up")
        assert pool.available == [servers[0]]
        assert checker.last_check[servers[0].key].reason == "status 200"
    finally:
        loop_thread.run(checker.stop())
        loop_thread.run(stop_all([backend]))
