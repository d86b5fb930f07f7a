"""Config of tcp listeners: a pool or routes by sni, and settings of one protocol on the other."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, parse_config


def document(listener: dict[str, Any], pools: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"listeners": [{"name": "edge", "bind": "127.0.0.1:0", **listener}],
            "pools": pools or {"db": {"servers": [{"address": "127.0.0.1:5432"}]},
                               "api": {"servers": [{"address": "127.0.0.1:8443"}]}}}


def problems(listener: dict[str, Any], pools: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(document(listener, pools), "laneway.yaml")
    return raised.value.problems


def test_a_tcp_listener_names_a_pool() -> None:
    config = parse_config(document({"protocol": "tcp", "pool": "db",
                                    "timeouts": {"idle": "5m", "handshake": "2s"}}))
    listener = config.listeners[0]
    assert (listener.protocol, listener.pool, listener.pool_names) == ("tcp", "db", ["db"])
    assert (listener.timeouts.idle, listener.timeouts.handshake) == (300.0, 2.0)
    assert listener.accept_proxy_protocol is False


def test_a_tcp_listener_routes_by_sni() -> None:
    config = parse_config(document({"protocol": "tcp", "accept_proxy_protocol": True, "routes": [
        {"match": {"sni": "API.example.com."}, "pool": "api"},
        {"match": {"sni": "*.example.com"}, "pool": "api"},
        {"pool": "db"}]}))
    routes = config.listeners[0].routes
    assert [route.match.sni for route in routes] == ["api.example.com", "*.example.com", None]


@pytest.mark.parametrize(("listener", "expected"), [
    ({"protocol": "tcp"}, "laneway.yaml: listeners[0]: a tcp listener takes either pool: NAME"),
    ({"protocol": "tcp", "pool": "db", "routes": [{"pool": "api"}]}, "give exactly one of them"),
    ({"protocol": "tcp", "pool": "db", "limits": {"max_header_size": 1024}},
     "listeners[0]: limits applies only to protocol http; a tcp listener reads no HTTP"),
    ({"protocol": "tcp", "pool": "db", "timeouts": {"header": "1s"}},
     "listeners[0]: timeouts.header applies only to protocol http"),
    ({"protocol": "tcp", "routes": [{"match": {"path_prefix": "/a"}, "pool": "api"}]},
     "routes[0].match.path_prefix applies only to protocol http; a tcp listener reads no HTTP: "
     "route by sni"),
    ({"protocol": "tcp", "routes": [{"pool": "db", "rate_limit": {"rate": 5}, "compression": True}]},
     "routes[0].rate_limit, routes[0].compression applies only to protocol http"),
    ({"protocol": "tcp", "routes": [{"respond": {"body": "x"}}]},
     "routes[0].respond applies only to protocol http"),
    ({"protocol": "tcp", "routes": [{"pool": "db"}, {"match": {"sni": "a.example.com"}, "pool": "api"}]},
     "routes[0] has no sni match, so it takes every connection and the routes after it are never "
     "used; put it last"),
    ({"pool": "db"}, "listeners[0]: pool applies only to protocol tcp; set protocol: tcp"),
    ({"routes": [{"pool": "db"}], "accept_proxy_protocol": True}, "accept_proxy_protocol applies only"),
    ({"routes": [{"pool": "db"}], "timeouts": {"handshake": "1s"}}, "timeouts.handshake applies only"),
    ({"routes": [{"match": {"sni": "a.example.com"}, "pool": "db"}]},
     "routes[0].match.sni applies only to protocol tcp"),
    ({"protocol": "tcp", "routes": [{"match": {"sni": "bad name"}, "pool": "db"}]},
     "listeners[0].routes[0].match.sni: sni is a DNS name such as api.example.com"),
    ({"protocol": "tcp", "routes": [{"match": {"sni": "a.*.com"}, "pool": "db"}]}, "sni is a DNS name"),
    ({"protocol": "tcp", "pool": "nowhere"},
     "laneway.yaml: listeners[0].pool: no pool is named 'nowhere'; defined pools: api, db"),
    ({"protocol": "udp", "pool": "db"}, "listeners[0].protocol: got 'udp'; expected one of 'http' or 'tcp'"),
])
def test_wrong_settings_are_named_with_their_fix(listener: dict[str, Any], expected: str) -> None:
    found = problems({"bind": "127.0.0.1:0", **listener})
    assert any(expected in line for line in found), found


def test_an_http_listener_still_needs_routes() -> None:
    assert any("an http listener needs routes, e.g. routes: [{pool: web}]" in line
               for line in problems({}))


def test_proxy_protocol_on_a_pool_of_an_http_listener_is_an_error() -> None:
    pools = {"web": {"servers": [{"address": "127.0.0.1:80"}], "proxy_protocol": "v2"}}
    assert problems({"routes": [{"pool": "web"}]}, pools) == [
        "laneway.yaml: pools.web.proxy_protocol: is sent only by tcp listeners, and http listener "
        "'edge' uses this pool; remove it, or give that listener a pool of its own"]


def test_proxy_protocol_takes_v1_or_v2() -> None:
    pools = {"db": {"servers": [{"address": "127.0.0.1:80"}], "proxy_protocol": "v3"}}
    assert any("pools.db.proxy_protocol: got 'v3'" in line
               for line in problems({"protocol": "tcp", "pool": "db"}, pools))


def test_the_hash_algorithm_cannot_serve_a_tcp_listener() -> None:
    pools = {"db": {"servers": [{"address": "127.0.0.1:80"}], "algorithm": "hash",
                    "hash_key": {"header": "X-User"}}}
    assert problems({"protocol": "tcp", "pool": "db"}, pools) == [
        "laneway.yaml: pools.db.algorithm: hash reads an HTTP request, and tcp listener 'edge' "
        "uses this pool; use ip_hash to hash the client address"]
