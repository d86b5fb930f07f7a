"""Routes after a config reload: sticky split cookies stay valid, and routes on the client's
address or country apply to connections that were open before the reload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from laneway.config import parse_config
from tests.support.balancer import Balancer, make_config
from tests.support.geoip import write_database

CANARY = {"split": [{"pool": "web-v2", "weight": 10}, {"pool": "web", "weight": 90}],
          "sticky": {"cookie": "lw_arm"}}


def document(running: Balancer, routes: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    first, second = (f"{b.address[0]}:{b.address[1]}" for b in running.backends)
    return make_config([first], routes=routes, pools={"web": {"servers": [{"address": first}]},
                                                      "web-v2": {"servers": [{"address": second}]}},
                       top=top)


def reload(running: Balancer, config: dict[str, Any]) -> None:
    running.loop.run(running.runtime.reload(parse_config(config)))


def test_sticky_cookies_stay_valid_across_a_reload(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pools_of_backends={"p": [0], "web": [0], "web-v2": [1]}, routes=[CANARY])
    cookies = {}
    with running.client() as client:
        for _ in range(10):
            client.cookies.clear()
            response = client.get("/")
            cookies[response.headers["x-backend"]] = response.headers["set-cookie"].split(";")[0]
    assert len(cookies) == 2
    # The weights change; each client keeps its pool, and is not given a new cookie.
    reload(running, document(running, [{**CANARY, "split": [{"pool": "web-v2", "weight": 50},
                                                            {"pool": "web", "weight": 50}]}]))
    for backend, cookie in cookies.items():
        with running.client() as client:
            for _ in range(5):
                response = client.get("/", headers={"Cookie": cookie})
                assert response.headers["x-backend"] == backend
                assert "set-cookie" not in response.headers


def test_routes_on_address_and_country_added_by_a_reload_see_open_connections(
        balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    running = balancer(2, pools_of_backends={"p": [0], "web": [0], "web-v2": [1]},
                       routes=[{"pool": "web"}])
    database = write_database(tmp_path / "countries.mmdb")
    with running.client() as client:
        assert client.get("/").headers["x-backend"] == "backend0"
        routes = [{"match": {"country": "DE", "path_prefix": "/de/"}, "pool": "web-v2"},
                  {"match": {"client_address": "127.0.0.0/8", "path_prefix": "/lo/"}, "pool": "web-v2"},
                  {"pool": "web"}]
        reload(running, document(running, routes, geoip={"database": str(database)}))
        # The same connection (127.0.0.1, which the database places in DE).
        assert client.get("/de/x").headers["x-backend"] == "backend1"
        assert client.get("/lo/x").headers["x-backend"] == "backend1"
        assert client.get("/x").headers["x-backend"] == "backend0"


def test_a_reload_keeps_rate_limits_unless_they_change(balancer: Callable[..., Balancer]) -> None:
    """Otherwise every reload would hand each client a fresh burst."""
    limited = {"match": {"path_prefix": "/api/"}, "pool": "web",
               "rate_limit": {"rate": "1r/m", "nodelay": True}}
    running = balancer(2, pools_of_backends={"p": [0], "web": [0], "web-v2": [1]}, routes=[limited])
    assert [running.get("/api/x").status_code for _ in range(2)] == [200, 429]
    reload(running, document(running, [limited, {"pool": "web-v2"}]))
    assert running.get("/api/x").status_code == 429, "the same limit goes on counting"
    reload(running, document(running, [{**limited, "rate_limit": {"rate": "2r/m", "nodelay": True}}]))
    assert running.get("/api/x").status_code == 200, "a changed limit starts afresh"


def test_a_reload_keeps_the_retry_budget(balancer: Callable[..., Balancer]) -> None:
    """A fresh budget would count every request since the start as this window's, and let
    retries through unchecked for its first ten seconds."""
    running = balancer(2, pools_of_backends={"p": [0], "web": [0], "web-v2": [1]}, routes=[{"pool": "web"}])
    budget = running.runtime.pools["web"].retry_budget
    running.call(budget.spend)
    reload(running, document(running, [{"pool": "web"}]))
    kept = running.runtime.pools["web"].retry_budget
    assert kept is budget and kept.retries_total == 1
    changed = document(running, [{"pool": "web"}])
    changed["pools"]["web"]["retry_budget"] = {"percent": 5}
    reload(running, changed)
    assert running.runtime.pools["web"].retry_budget.percent == 5
    assert running.runtime.pools["web"].retry_budget.retries_total == 1
