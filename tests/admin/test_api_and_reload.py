"""Changes made through the admin API and a config reload: the API's state and weight stay
until the file changes that server; the server list is the file's after a reload."""

from __future__ import annotations

from collections.abc import Callable

from laneway.config import parse_config
from tests.admin.conftest import Admin
from tests.support.balancer import make_config


def reload_with(running: Admin, weights: list[int]) -> None:
    runtime = running.running.runtime
    addresses = [server.key for server in runtime.pools["p"].servers][:len(weights)]
    document = make_config(addresses, top={"admin": {"bind": "127.0.0.1:0"}})
    for server, weight in zip(document["pools"]["p"]["servers"], weights, strict=True):
        server["weight"] = weight
    running.running.loop.run(runtime.reload(parse_config(document)))


def test_state_and_weight_set_through_the_api_survive_a_reload(admin: Callable[..., Admin]) -> None:
    running = admin(2)
    first, second = (server.key for server in running.pool().servers)
    with running.client() as api:
        api.put(f"/api/pools/p/servers/{first}/weight", json={"weight": 5})
        api.put(f"/api/pools/p/servers/{second}/state", json={"state": "drain"})
        reload_with(running, [1, 1])  # the file did not change either server
        after = {s["address"]: s for s in api.get("/api/servers").json()}
        assert (after[first]["weight"], after[second]["state"]) == (5, "drain")

        reload_with(running, [2, 1])  # the file changed the first server: the file wins
        after = {s["address"]: s for s in api.get("/api/servers").json()}
        assert after[first]["weight"] == 2
        assert after[second]["state"] == "drain"


def test_servers_added_through_the_api_give_way_to_the_files_list(admin: Callable[..., Admin]) -> None:
    running = admin(1)
    with running.client() as api:
        assert api.post("/api/pools/p/servers", json={"address": "127.0.0.1:9"}).status_code == 201
        assert len(api.get("/api/servers").json()) == 2
        reload_with(running, [1])
        assert [s["address"] for s in api.get("/api/servers").json()] == [running.pool().servers[0].key]
