"""Caps per server (``limits``) and the operator's states (``drain``, ``maintenance``):
a server at its cap or taken out gets no new request; the request goes to another server, or
gets a 503 at once rather than waiting without bound."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

import httpx

from laneway.upstream import DRAIN, MAINTENANCE, READY, Pool, Server
from tests.support.backend import Backend
from tests.support.balancer import Balancer, wait_for
from tests.support.faults import BlackHole


def in_background(running: Balancer, path: str) -> concurrent.futures.Future[httpx.Response]:
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = executor.submit(running.get, path)
    executor.shutdown(wait=False)
    return future


def test_max_requests_sends_the_next_request_to_another_server(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "least_request", "limits": {"max_requests": 1}})
    busy = in_background(running, "/delay?s=1")
    servers = running.runtime.pools["p"].servers
    wait_for(lambda: sum(s.in_flight for s in servers) == 1, message="one request under way")
    [taken] = [s for s in servers if s.in_flight]
    with running.client() as client:
        for n in range(5):
            response = client.get(f"/n{n}")
            assert response.status_code == 200
            assert response.headers["x-backend"] != running.backends[servers.index(taken)].name
    assert busy.result(timeout=10).status_code == 200


def test_max_requests_answers_503_at_once_when_all_are_full(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, pool={"limits": {"max_requests": 1}})
    busy = in_background(running, "/delay?s=1")
    wait_for(lambda: running.runtime.pools["p"].servers[0].in_flight == 1, message="one request under way")
    started = time.monotonic()
    response = running.get("/")
    assert response.status_code == 503
    assert "at its limit" in response.text
    assert time.monotonic() - started < 0.5, "refused at once, not queued"
    assert busy.result(timeout=10).status_code == 200
    assert running.get("/").status_code == 200, "room again once the first request ended"


def test_max_connecting_passes_over_a_server_still_opening_connections(
        balancer: Callable[..., Balancer]) -> None:
    with BlackHole() as hole:
        running = balancer(1, pool={
            "algorithm": "round_robin", "retries": 0, "limits": {"max_connecting": 1},
            "timeouts": {"connect": "2s"}})
        pool = running.runtime.pools["p"]
        running.call(lambda: add_server(pool, hole.address))
        hanging = in_background(running, "/first")
        wait_for(lambda: pool.servers[0].connecting == 1, message="a connection being opened")
        with running.client() as client:
            statuses = [client.get(f"/n{n}").status_code for n in range(4)]
        assert statuses == [200] * 4
        assert pool.servers[0].connecting == 1, "no second connection was started"
        assert hanging.result(timeout=10).status_code == 502


def add_server(pool: Pool, address: str) -> None:
    host, port = address.rsplit(":", 1)
    pool.servers.insert(0, Server(address, host, int(port)))
    pool.set_limits(pool.servers[0], max_requests=None, max_connecting=1)
    pool.refresh()


def test_a_drained_server_gets_nothing(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2)
    pool = running.runtime.pools["p"]
    drained, serving = running.backends
    running.call(pool.set_state, pool.servers[0], DRAIN)
    with running.client() as client:
        names = {client.get(f"/n{n}").headers["x-backend"] for n in range(6)}
    assert names == {serving.name}
    assert drained.requests == []


def test_drain_lets_the_request_under_way_finish(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, pool={"retries": 0})
    pool = running.runtime.pools["p"]
    busy = in_background(running, "/delay?s=0.5")
    wait_for(lambda: pool.servers[0].in_flight == 1, message="a request under way")
    running.call(pool.set_state, pool.servers[0], DRAIN)
    assert running.get("/").status_code == 503, "no new request"
    assert busy.result(timeout=10).status_code == 200, "the one under way finished"
    running.call(pool.set_state, pool.servers[0], READY)
    assert running.get("/").status_code == 200


def test_maintenance_stops_health_checks(balancer: Callable[..., Balancer]) -> None:
    check = {"path": "/health", "interval": "50ms", "timeout": "40ms", "jitter": 0}
    running = balancer(2, pool={"health_check": check})
    resting, working = running.backends

    def checks(backend: Backend) -> int:
        return sum(r.target == "/health" for r in backend.requests)

    wait_for(lambda: checks(resting) and checks(working), message="first checks")
    pool = running.runtime.pools["p"]
    running.call(pool.set_state, pool.servers[0], MAINTENANCE)
    # A check of the resting server already started may still land; after that none may.
    start = checks(working)
    wait_for(lambda: checks(working) >= start + 2, message="two more checks of the other server")
    seen = checks(resting)
    wait_for(lambda: checks(working) >= start + 6, message="four more checks of the other server")
    assert checks(resting) == seen
    with running.client() as client:
        assert {client.get(f"/n{n}").headers["x-backend"] for n in range(4)} == {working.name}
