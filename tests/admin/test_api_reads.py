"""Reading listeners, routes, pools and servers with their live state over the admin port."""

from __future__ import annotations

from collections.abc import Callable

from laneway.admin.views import listener_views, route_views
from laneway.config import parse_config
from laneway.runtime.server import Runtime
from tests.admin.conftest import TOKEN, Admin
from tests.support.balancer import wait_for

CHECK = {"interval": "0.1s", "timeout": "0.1s", "rise": 1, "fall": 1}


def test_listeners_and_routes(admin: Callable[..., Admin]) -> None:
    running = admin(2, pools_of_backends={"p": [0], "api": [1]},
                    routes=[{"match": {"path_prefix": "/api/"}, "pool": "api"}, {"pool": "p"}])
    host, port = running.running.address
    [listener] = running.get("/api/listeners").json()
    assert listener["name"] == "web"
    assert listener["bind"] == "127.0.0.1:0"
    assert (listener["protocol"], listener["tls"]) == ("http", False)
    assert listener["address"] == f"{host}:{port}", "the port really bound, not the 0 asked for"
    assert [(r["match"], r["pool"]) for r in listener["routes"]] == [({"path_prefix": "/api/"}, "api"),
                                                                    ({}, "p")]
    routes = running.get("/api/routes").json()
    assert [(r["listener"], r["index"], r["pool"]) for r in routes] == [("web", 0, "api"), ("web", 1, "p")]


def test_splits_and_match_keys_without_secrets(admin: Callable[..., Admin]) -> None:
    running = admin(2, pools_of_backends={"p": [0], "api": [1]}, routes=[
        {"match": {"host": "*.example.com", "method": "GET", "headers": {"X-Canary": "1"}},
         "split": [{"pool": "api", "weight": 10}, {"pool": "p", "weight": 90}],
         "sticky": {"cookie": "arm", "secret": "a-sticky-secret-0123456789"}},
        {"pool": "p"}])
    [split, plain] = running.get("/api/routes").json()
    assert split["match"] == {"host": "*.example.com", "method": ["GET"],
                              "headers": {"X-Canary": {"equals": ["1"]}}}  # the full form
    assert (split["pool"], split["split"], split["sticky_cookie"]) == (
        None, [{"pool": "api", "weight": 10}, {"pool": "p", "weight": 90}], "arm")
    assert (plain["match"], plain["pool"], plain["split"]) == ({}, "p", None)
    assert "a-sticky-secret" not in running.get("/api/listeners").text


def test_routes_show_what_they_do_besides_where_they_send(admin: Callable[..., Admin]) -> None:
    """A route's own answer and its policies are part of what it does: shown, but never a
    value laneway writes into a header (it may be the server's credential)."""
    running = admin(1, top={"caches": {"pages": {"max_size": "1MiB"}}}, routes=[
        {"match": {"path": "/healthz"},
         "respond": {"status": 200, "body": "healthy", "headers": {"X-A": "1"}}},
        {"match": {"path_prefix": "/old/"},
         "redirect": {"location": "https://$host/new$path", "status": 301}},
        {"match": {"path_prefix": "/api/"}, "pool": "p", "rate_limit": {"rate": "10r/s", "burst": 5},
         "max_body_size": "1KiB", "compression": True, "cache": {"store": "pages", "valid": {"200": "1m"}},
         "rewrite": {"strip_prefix": "/api"},
         "request_headers": {"set": {"Authorization": "Bearer a-server-credential"}, "remove": ["Cookie"]},
         "response_headers": {"add": {"X-Served-By": "laneway"}}},
        {"pool": "p"}])
    healthz, old, api, plain = running.get("/api/routes").json()
    assert healthz["pool"] is None
    assert healthz["respond"] == {"status": 200, "content_type": "text/plain; charset=utf-8",
                                  "body_bytes": 7, "headers": ["X-A"]}
    assert (old["pool"], old["redirect"]) == (None, {"location": "https://$host/new$path", "status": 301})
    assert api["rate_limit"]["rate"] and api["rate_limit"]["burst"] == 5
    assert api["max_body_size"] == 1024
    assert api["compression"]["min_length"] == 1024, "the full form, defaults included"
    assert api["cache"]["store"] == "pages"
    assert api["rewrite"] == {"strip_prefix": "/api"}
    assert api["request_headers"] == {"add": [], "set": ["Authorization"], "remove": ["Cookie"]}
    assert api["response_headers"] == {"add": ["X-Served-By"], "set": [], "remove": []}
    for key in ("respond", "redirect", "rate_limit", "max_body_size", "cache", "request_headers"):
        assert plain[key] is None, key
    assert "a-server-credential" not in running.get("/api/listeners").text
    assert "a-server-credential" not in running.get("/api/routes").text


def test_servers_show_live_counters_and_state(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"algorithm": "round_robin", "health_check": CHECK})
    checker = running.running.runtime.health_checkers["p"]
    wait_for(lambda: len(checker.last_check) == 2, message="a first check of each server")
    with running.running.client() as client:
        for _ in range(4):
            assert client.get("/").status_code == 200
        assert client.get("/status?code=503").status_code == 503

    servers = running.get("/api/servers").json()
    addresses = [f"{b.address[0]}:{b.address[1]}" for b in running.running.backends]
    assert [s["address"] for s in servers] == addresses
    assert sum(s["requests_total"] for s in servers) == 5
    assert sum(s["failures_total"] for s in servers) == 0, "503 counts as a failure only when configured"
    for server in servers:
        assert server["pool"] == "p"
        assert (server["health"], server["ejected"], server["breaker"], server["state"]) == (
            "up", False, "closed", "ready")
        assert server["takes_traffic"] is True
        assert server["in_flight"] == 0
        assert server["weight"] == 1
        assert server["last_check"]["ok"] is True
        assert server["last_check"]["reason"] == "status 200"

    [pool] = running.get("/api/pools").json()
    assert pool["name"] == "p"
    assert pool["algorithm"] == "round_robin"
    assert pool["health_checked"] is True
    assert pool["available"] == [s["address"] for s in servers]
    one_pool = running.get("/api/pools/p").json()
    assert (one_pool["name"], one_pool["available"]) == ("p", pool["available"])
    one = running.get(f"/api/pools/p/servers/{servers[0]['address']}").json()
    assert one["address"] == servers[0]["address"]


def test_a_stopped_backend_shows_down(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"health_check": CHECK})
    victim = running.running.backends[1]
    address = f"{victim.address[0]}:{victim.address[1]}"
    running.running.loop.run(victim.stop())

    def down() -> dict[str, object] | None:
        server: dict[str, object] = running.get(f"/api/pools/p/servers/{address}").json()
        return server if server["health"] == "down" else None

    server = wait_for(down, message="the stopped backend shown down")
    assert server["takes_traffic"] is False
    assert server["last_check"]["reason"] == "connection refused"  # type: ignore[index]
    assert running.get("/api/pools/p").json()["available"] != [address]


def test_unknown_pool_and_server_are_404_naming_the_field(admin: Callable[..., Admin]) -> None:
    running = admin()
    response = running.get("/api/pools/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "no pool is named 'nowhere'; pools: p", "field": "pool"}
    response = running.get("/api/pools/p/servers/127.0.0.1:1")
    assert response.status_code == 404
    assert response.json()["field"] == "address"
    assert "has no server 127.0.0.1:1" in response.json()["error"]
    response = running.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"].startswith("no such endpoint: GET /api/nothing-here")


def test_reads_are_open_unless_configured(admin: Callable[..., Admin]) -> None:
    running = admin()
    assert running.get("/api/servers", token=None).status_code == 200
    assert running.get("/metrics", token=None).status_code == 200


def test_read_requires_token(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"read_requires_token": True})
    for path in ("/api/servers", "/api/pools", "/api/listeners", "/metrics"):
        refused = running.get(path, token=None)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in refused.json()["error"]
        assert running.get(path, token="not-the-token").status_code == 401, path
        assert running.get(path, token=TOKEN).status_code == 200, path
    # Probes never need the token: a Kubernetes probe carries none.
    assert running.get("/health/ready", token=None).status_code == 200


def test_tcp_listeners_routes() -> None:
    runtime = Runtime(parse_config({
        "listeners": [
            {"name": "tls", "bind": "127.0.0.1:0", "protocol": "tcp",
             "routes": [{"match": {"sni": "api.example.com"}, "pool": "api"}, {"pool": "db"}]},
            {"name": "postgres", "bind": "127.0.0.1:0", "protocol": "tcp", "pool": "db"},
        ],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9"}]},
                  "db": {"servers": [{"address": "127.0.0.1:10"}]}},
    }))
    routes = [route.model_dump() for route in route_views(runtime)]
    assert [(r["listener"], r["index"], r["match"], r["pool"]) for r in routes] == [
        ("tls", 0, {"sni": "api.example.com"}, "api"), ("tls", 1, {}, "db")]
    [tls, postgres] = listener_views(runtime)
    assert (tls.protocol, postgres.protocol, postgres.address) == ("tcp", "tcp", None)
    assert (postgres.routes, postgres.pool) == ([], "db")
