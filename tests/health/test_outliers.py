"""Passive checks: a server failing real traffic is ejected, for longer each time in a row,
and returns on its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from laneway.balancing import create
from laneway.health import OutlierDetector
from laneway.upstream import Pool, Server
from tests.support.balancer import Balancer, wait_for
from tests.support.fake_time import FakeTime


def detector(consecutive: int = 3) -> tuple[Pool, Server, FakeTime, OutlierDetector]:
    time = FakeTime()
    servers = [Server(f"10.0.0.{n}:80", f"10.0.0.{n}", 80) for n in (1, 2)]
    pool = Pool("api", servers, create("round_robin"), clock=lambda: time.now)
    found = OutlierDetector(pool, consecutive=consecutive, base_ejection=30.0, max_ejection=120.0,
                            clock=lambda: time.now, call_later=time.call_later)
    return pool, servers[0], time, found


def test_ejected_after_consecutive_failures_only() -> None:
    pool, server, _, _ = detector()
    pool.report(server, False)
    pool.report(server, False)
    pool.report(server, True)  # a success resets the count
    pool.report(server, False)
    pool.report(server, False)
    assert not server.ejected and server in pool.available
    pool.report(server, False)
    assert server.ejected and server not in pool.available


def test_ejection_doubles_when_repeated_and_is_capped() -> None:
    pool, server, time, _ = detector(consecutive=1)
    lengths = []
    for _ in range(4):
        pool.report(server, False)
        assert server.ejected
        started = time.now
        while server.ejected:
            time.advance(1.0)
        lengths.append(time.now - started)
    assert lengths == [30.0, 60.0, 120.0, 120.0]


def test_a_server_clean_for_the_longest_ejection_starts_again_from_the_base() -> None:
    pool, server, time, _ = detector(consecutive=1)
    pool.report(server, False)
    time.advance(30.0)
    pool.report(server, False)
    time.advance(60.0)
    assert not server.ejected
    time.advance(120.0)  # clean for max_ejection
    pool.report(server, False)
    time.advance(29.0)
    assert server.ejected
    time.advance(1.0)
    assert not server.ejected


def test_ejection_and_the_active_verdict_are_kept_apart() -> None:
    pool, server, time, _ = detector(consecutive=1)
    pool.report(server, False)
    pool.set_up(server, True)  # an active check passing does not undo the ejection
    assert server not in pool.available
    pool.set_up(server, False)
    time.advance(30.0)  # the ejection ending does not undo the active checks' verdict
    assert server not in pool.available
    pool.set_up(server, True)
    assert server in pool.available


@pytest.mark.parametrize("consecutive", [0, -1])
def test_consecutive_must_be_positive(consecutive: int) -> None:
    with pytest.raises(ValueError, match="consecutive must be >= 1"):
        detector(consecutive=consecutive)


def test_a_server_answering_503_is_ejected_and_returns(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin", "outlier_detection": {
        "consecutive_failures": 2, "ejection_time": "300ms", "max_ejection_time": "1s"}})
    sick = running.backends[0]
    sick.override = "/status?code=503"
    with running.client() as client:
        statuses = [client.get("/").status_code for _ in range(4)]
        assert statuses.count(503) == 2, statuses
        sick_requests = len(sick.requests)
        assert [client.get("/").status_code for _ in range(10)] == [200] * 10
        assert len(sick.requests) == sick_requests, "an ejected server gets no requests"
        sick.override = None
        wait_for(lambda: not running.runtime.pools["p"].servers[0].ejected, timeout=5.0)
        assert [client.get("/").status_code for _ in range(4)] == [200] * 4
    assert len(sick.requests) > sick_requests, "it takes traffic again after its ejection"
