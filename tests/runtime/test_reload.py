"""Reloading the config while laneway runs: new routes, pools and servers take effect for
every connection, open ones included; servers that stay keep their state; nothing in flight
is dropped, and a reload under load fails no request."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from laneway.config import parse_config
from tests.support.balancer import Balancer, make_config, wait_for


def addresses(running: Balancer, *indexes: int) -> list[str]:
    return [f"{running.backends[i].address[0]}:{running.backends[i].address[1]}" for i in indexes]


def reload(running: Balancer, document: dict[str, Any]) -> None:
    # The listener keeps its name and bind (port 0 as first written): it stays, with new routes.
    running.loop.run(running.runtime.reload(parse_config(document)))


def names(client: httpx.Client, count: int = 6) -> set[str]:
    return {client.get(f"/n{n}").headers["x-backend"] for n in range(count)}


def test_servers_added_and_removed_take_effect_on_open_connections(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, servers=None)
    reload(running, make_config(addresses(running, 0, 1)))
    first, second, third = running.backends
    with running.client() as client:
        assert names(client) == {first.name, second.name}
        reload(running, make_config(addresses(running, 1, 2)))
        assert names(client) == {second.name, third.name}, "the same connection follows the new config"


def test_a_server_that_stays_keeps_its_state(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2)
    pool = running.runtime.pools["p"]
    down = pool.servers[0]
    running.call(pool.set_up, down, False)
    down.requests_total = 1234
    reload(running, make_config(addresses(running, 0, 1), pool={"algorithm": "round_robin"}))
    new_pool = running.runtime.pools["p"]
    assert new_pool is not pool
    assert new_pool.servers[0] is down and not down.up and down.requests_total == 1234
    with running.client() as client:
        assert names(client) == {running.backends[1].name}


def test_what_the_file_changes_for_a_server_is_applied(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2)
    document = make_config(addresses(running, 0, 1))
    document["pools"]["p"]["servers"][0].update({"weight": 7, "state": "drain"})
    reload(running, document)
    server = running.runtime.pools["p"].servers[0]
    assert (server.weight, server.state) == (7, "drain")


def test_a_request_under_way_finishes_on_the_pool_it_started_on(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2)
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        slow = executor.submit(running.get, "/delay?s=0.5")
        pool = running.runtime.pools["p"]
        wait_for(lambda: sum(s.in_flight for s in pool.servers) == 1, message="a request under way")
        reload(running, make_config(addresses(running, 1)))
        assert slow.result(timeout=10).status_code == 200
    assert sum(s.in_flight for s in pool.servers) == 0


def test_a_new_listener_starts_and_a_removed_one_drains(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    document = make_config(addresses(running, 0))
    document["listeners"][0].update({"name": "other", "bind": "127.0.0.1:0"})
    old_address = running.address
    reload(running, document)
    assert "web" not in running.runtime.listener_addresses
    host, port = running.runtime.listener_addresses["other"]
    assert httpx.get(f"http://{host}:{port}/", trust_env=False).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{old_address[0]}:{old_address[1]}/", trust_env=False)


def test_a_listener_whose_port_is_taken_changes_nothing(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2)
    taken = running.address
    document = make_config(addresses(running, 1))
    clash = {"name": "clash", "bind": f"{taken[0]}:{taken[1]}", "routes": [{"pool": "p"}]}
    document["listeners"].append(clash)
    with pytest.raises(OSError):
        reload(running, document)
    assert len(running.runtime.pools["p"].servers) == 2, "the old config still runs"
    assert running.get("/").status_code == 200


def test_twenty_reloads_under_load_fail_no_request(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3)
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        with running.client(timeout=5.0) as client:
            for n in range(5000):
                if stop.is_set():
                    return
                try:
                    outcomes[str(client.get(f"/n{n}").status_code)] += 1
                except httpx.HTTPError as error:
                    outcomes[type(error).__name__] += 1

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(20):
        wait_for(lambda n=n: sum(outcomes.values()) >= 20 * (n + 1), timeout=30,
                 message="requests between reloads")
        chosen = [(0, 1), (1, 2), (0, 2), (0, 1, 2)][n % 4]
        reload(running, make_config(addresses(running, *chosen)))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(outcomes.values()) > 0
    assert set(outcomes) == {"200"}, f"failed requests: {outcomes}"


def test_a_removed_server_keeps_no_connection_a_finished_request_gives_back(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"})
    removed = running.runtime.pools["p"].servers[0]
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        slow = executor.submit(running.get, "/delay?s=0.5")
        wait_for(lambda: removed.in_flight == 1, message="a request under way to the first server")
        reload(running, make_config(addresses(running, 1)))
        assert slow.result(timeout=10).status_code == 200
    assert removed.connections.idle == [], "its connection was closed, not kept"
