"""The chapter's "Server crashes" timeline through a running laneway, end to end.

Three real backends behind a pool checked every 0.1s (rise 2, fall 3): one is killed and is
marked down within about fall intervals and one timeout, after which no client request
reaches it; it is restarted on the same port and is marked up within about rise intervals,
after which it takes its share again. Each bound has slack for a busy test machine; the
lower bounds have none, since a flip can only come late, never early.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from tests.support.backend import Backend
from tests.support.balancer import Balancer, wait_for

INTERVAL, TIMEOUT, JITTER, RISE, FALL = 0.1, 0.1, 0.1, 2, 3
CHECK = {"interval": f"{INTERVAL}s", "timeout": f"{TIMEOUT}s", "jitter": JITTER, "rise": RISE, "fall": FALL}
SLACK = 1.0


def client_requests(backend: Backend) -> int:
    """Requests the backend got from clients through the proxy, not from health checks."""
    return sum(1 for request in backend.requests if request.header("user-agent") != "laneway-health")


def backends_hit(balancer: Balancer, count: int) -> list[str]:
    """Send ``count`` sequential GETs through the proxy; all must succeed."""
    hit = []
    with balancer.client() as client:
        for _ in range(count):
            response = client.get("/")
            assert response.status_code == 200, response.text
            hit.append(response.headers["x-backend"])
    return hit


def up_state(balancer: Balancer, index: int) -> Callable[[], bool]:
    server = balancer.runtime.pools["p"].servers[index]
    return lambda: balancer.call(lambda: server.up)


def test_server_crashes_and_recovers(balancer: Callable[..., Balancer],
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="laneway.health")
    running = balancer(3, pool={"algorithm": "round_robin", "health_check": CHECK})
    checker = running.runtime.health_checkers["p"]
    servers = running.runtime.pools["p"].servers
    wait_for(lambda: len(checker.last_check) == 3, message="a first check of every server")
    assert sorted(set(backends_hit(running, 6))) == ["backend0", "backend1", "backend2"]

    # t=0: backend1 crashes (its port refuses connections).
    victim = running.backends[1]
    port = victim.address[1]
    is_up = up_state(running, 1)
    crashed = time.monotonic()
    running.loop.run(victim.stop())
    wait_for(lambda: not is_up(), timeout=10.0, message="backend1 marked down")
    to_down = time.monotonic() - crashed
    # fall checks: the first may come at once, the others each an interval (less jitter) later.
    assert (FALL - 1) * INTERVAL * (1 - JITTER) <= to_down <= FALL * INTERVAL * (1 + JITTER) + TIMEOUT + SLACK
    assert checker.last_check[servers[1].key].reason == "connection refused"

    # Marked down: every request goes to the others.
    before = client_requests(victim)
    assert set(backends_hit(running, 30)) == {"backend0", "backend2"}
    assert client_requests(victim) == before

    # Restarted on the same port: back after rise passed checks.
    restarted = time.monotonic()
    running.loop.run(victim.start(port))
    wait_for(is_up, timeout=10.0, message="backend1 marked up")
    to_up = time.monotonic() - restarted
    assert (RISE - 1) * INTERVAL * (1 - JITTER) <= to_up <= RISE * INTERVAL * (1 + JITTER) + TIMEOUT + SLACK
    assert sorted(set(backends_hit(running, 9))) == ["backend0", "backend1", "backend2"]

    messages = [record.getMessage() for record in caplog.records if record.name == "laneway.health"]
    key = servers[1].key
    assert messages == [f"pools.p server {key} is DOWN after 3 failed checks: connection refused",
                        f"pools.p server {key} is UP after 2 passed checks: status 200"]


def test_a_sick_server_is_taken_out_and_readmitted(balancer: Callable[..., Balancer]) -> None:
    # Alive but failing its check (a 503 from /health, as when its database is gone).
    running = balancer(3, pool={"algorithm": "round_robin", "health_check": CHECK})
    checker = running.runtime.health_checkers["p"]
    sick = running.backends[2]
    is_up = up_state(running, 2)
    sick.override = "/status?code=503"
    wait_for(lambda: not is_up(), timeout=10.0, message="backend2 marked down")
    assert checker.last_check[running.runtime.pools["p"].servers[2].key].reason == (
        "status 503, expected 200-399")
    before = client_requests(sick)
    assert set(backends_hit(running, 20)) == {"backend0", "backend1"}
    assert client_requests(sick) == before
    sick.override = None
    wait_for(is_up, timeout=10.0, message="backend2 marked up")
    assert "backend2" in backends_hit(running, 6)


def test_a_pool_with_every_server_down_answers_503(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"health_check": {**CHECK, "fall": 1}})
    for backend in running.backends:
        running.loop.run(backend.stop())
    wait_for(lambda: not up_state(running, 0)() and not up_state(running, 1)(), timeout=10.0,
             message="both servers marked down")
    response = running.get("/")
    assert response.status_code == 503
    assert "no server of pool 'p' may take traffic" in response.text


def test_a_tcp_check_watches_the_port(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"health_check": {"type": "tcp", "interval": "0.1s", "timeout": "0.1s",
                                                 "rise": 1, "fall": 2}})
    checker = running.runtime.health_checkers["p"]
    wait_for(lambda: len(checker.last_check) == 2, message="a first check of every server")
    running.loop.run(running.backends[0].stop())
    wait_for(lambda: not up_state(running, 0)(), timeout=10.0, message="backend0 marked down")
    assert set(backends_hit(running, 6)) == {"backend1"}
    assert all(request.header("user-agent") != "laneway-health" for request in running.backends[1].requests)


def test_shutdown_stops_the_checks(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, pool={"health_check": CHECK})
    checker = running.runtime.health_checkers["p"]
    assert checker.running
    running.shutdown()
    assert not checker.running
