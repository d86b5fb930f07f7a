"""Changing a running laneway over the admin port while real traffic flows through it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from tests.admin.conftest import Admin, Traffic
from tests.support.backend import Backend
from tests.support.balancer import wait_for


def address_of(backend: Backend) -> str:
    host, port = backend.address
    return f"{host}:{port}"


def backends_hit(admin: Admin, count: int) -> Counter[str]:
    hit: Counter[str] = Counter()
    with admin.running.client() as client:
        for _ in range(count):
            response = client.get("/")
            assert response.status_code == 200, response.text
            hit[response.headers["x-backend"]] += 1
    return hit


def test_changes_need_the_token(admin: Callable[..., Admin]) -> None:
    running = admin(2)
    path = f"/api/pools/p/servers/{address_of(running.running.backends[1])}/state"
    for token in (None, "not-the-token"):
        with running.client(token) as client:
            refused = client.put(path, json={"state": "drain"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert set(refused.json()) == {"error", "field"}
    assert running.pool().servers[1].state == "ready", "a refused change changes nothing"


def test_drain_and_ready_take_effect_under_traffic(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"algorithm": "round_robin"})
    drained = address_of(running.running.backends[1])
    with running.client() as api, Traffic(running.running) as traffic:
        traffic.seen(20)
        response = api.put(f"/api/pools/p/servers/{drained}/state", json={"state": "drain"})
        assert response.status_code == 200, response.text
        assert (response.json()["state"], response.json()["takes_traffic"]) == ("drain", False)
        drained_at = len(traffic.results)
        traffic.seen(20)
        # Counted before asking: the change takes effect on laneway's loop before its answer
        # reaches this thread, and requests answered in between may already use the server.
        ready_at = len(traffic.results)
        response = api.put(f"/api/pools/p/servers/{drained}/state", json={"state": "ready"})
        assert response.json()["state"] == "ready"
        traffic.seen(20)
    results = traffic.stop()
    assert all(status == 200 for status, _ in results), Counter(results)
    # At most the one request under way when the change came may still go to it.
    assert Counter(backend for _, backend in results[drained_at + 1:ready_at]) == {
        "backend0": ready_at - drained_at - 1}
    assert {backend for _, backend in results[ready_at + 1:]} == {"backend0", "backend1"}


def test_maintenance_stops_health_checks_and_traffic(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"health_check": {"interval": "0.1s", "timeout": "0.1s"}})
    address = address_of(running.running.backends[1])
    with running.client() as api:
        assert api.put(f"/api/pools/p/servers/{address}/state",
                       json={"state": "maintenance"}).json()["state"] == "maintenance"
    assert backends_hit(running, 10) == {"backend0": 10}


def test_a_drained_servers_request_under_way_finishes(admin: Callable[..., Admin]) -> None:
    running = admin()
    answered: list[int] = []
    with running.running.client() as client:
        held = threading.Thread(target=lambda: answered.append(client.get("/?hold=1").status_code))
        held.start()
        wait_for(lambda: running.running.backend.holding, message="the held request")
        with running.client() as api:
            server = api.put(f"/api/pools/p/servers/{address_of(running.running.backend)}/state",
                             json={"state": "drain"}).json()
        assert server["in_flight"] == 1
        running.running.backend.release()
        held.join(10.0)
    assert answered == [200]


def test_weight_takes_effect_at_once(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"algorithm": "weighted_round_robin"})
    assert backends_hit(running, 4) == {"backend0": 2, "backend1": 2}
    with running.client() as api:
        response = api.put(f"/api/pools/p/servers/{address_of(running.running.backends[0])}/weight",
                           json={"weight": 3})
    assert response.status_code == 200, response.text
    assert response.json()["weight"] == 3
    assert backends_hit(running, 8) == {"backend0": 6, "backend1": 2}


def test_add_and_remove_a_server_under_traffic(admin: Callable[..., Admin]) -> None:
    check = {"interval": "0.1s", "timeout": "0.1s"}
    running = admin(1, pool={"algorithm": "round_robin", "health_check": check})
    extra = running.running.loop.run(Backend("extra").start())
    try:
        address = address_of(extra)
        with running.client() as api, Traffic(running.running) as traffic:
            traffic.seen(10)
            response = api.post("/api/pools/p/servers", json={"address": address, "weight": 2})
            assert response.status_code == 201, response.text
            added = response.json()
            assert (added["address"], added["weight"]) == (address, 2)
            # Health-checked pool: no traffic until its checks pass (rise 2).
            assert (added["health"], added["takes_traffic"]) == ("down", False)
            added_at = len(traffic.results)
            wait_for(lambda: api.get(f"/api/pools/p/servers/{address}").json()["health"] == "up",
                     message="the added server up after passed checks")
            traffic.seen(30)

            response = api.delete(f"/api/pools/p/servers/{address}")
            assert response.status_code == 200, response.text
            removed_at = len(traffic.results)
            traffic.seen(20)
            assert address not in [s["address"] for s in api.get("/api/servers").json()]
            checker = running.running.runtime.health_checkers["p"]
            assert running.running.call(lambda: address in checker.states or address in checker.last_check) \
                is False, "its health checks stopped"
        results = traffic.stop()
    finally:
        running.running.loop.run(extra.stop())
    assert all(status == 200 for status, _ in results), Counter(results)
    assert "extra" not in {backend for _, backend in results[:added_at]}
    assert "extra" in {backend for _, backend in results[added_at + 1:removed_at]}
    assert "extra" not in {backend for _, backend in results[removed_at + 1:]}


def test_a_removed_servers_request_under_way_finishes(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"algorithm": "round_robin"})
    held_on = running.running.backends[0]
    removed = running.pool().server(address_of(held_on))
    assert removed is not None
    answered: list[int] = []
    with running.running.client() as client:
        held = threading.Thread(target=lambda: answered.append(client.get("/?hold=1").status_code))
        held.start()
        wait_for(lambda: held_on.holding, message="the held request")
        with running.client() as api:
            response = api.delete(f"/api/pools/p/servers/{address_of(held_on)}")
        assert response.status_code == 200, response.text
        assert response.json()["in_flight"] == 1
        held_on.release()
        held.join(10.0)
    assert answered == [200]
    assert running.running.call(lambda: (removed.in_flight, len(removed.connections.idle))) == (0, 0), (
        "the removed server's connection is closed, not kept for reuse")
    assert backends_hit(running, 4) == {"backend1": 4}
