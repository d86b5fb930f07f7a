"""The host index and the path and value tables change nothing: the router answers exactly as trying
every route in order would, for any routes and any request."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.routing import Facts, Router, normal_host
from tests.routing.support import POOL_NAMES, make_router, request

HOSTS = ["a.example", "b.example", "x.a.example"]
PATHS = ["/", "/a", "/a/", "/a/b", "/ab", "/b/c"]

conditions = st.fixed_dictionaries({}, optional={
    "host": st.sampled_from([*HOSTS, "*.example", "*.a.example"]),
    "path_prefix": st.sampled_from(PATHS),
    "path": st.sampled_from(PATHS),
    "path_regex": st.sampled_from(["b$", "^/a", "/"]),
    "method": st.sampled_from(["GET", ["GET", "POST"], "DELETE"]),
    "headers": st.sampled_from([{"X-A": True}, {"x-a": "1"}, {"X-B": {"present": False}}]),
    "cookies": st.sampled_from([{"c": "1"}, {"c": True}]),
    "query": st.sampled_from([{"q": "1"}, {"q": True}]),
})
# Mostly the routes the router puts in path tables (a path, maybe an exact host), so that
# runs of them, repeated prefixes and shadowing come up often.
simple = st.fixed_dictionaries({}, optional={"host": st.sampled_from(HOSTS)}).flatmap(
    lambda host: st.one_of(
        st.builds(lambda p: {**host, "path_prefix": p}, st.sampled_from(PATHS)),
        st.builds(lambda p: {**host, "path": p}, st.sampled_from(PATHS)),
        st.builds(lambda p, m: {**host, "path_prefix": p, "method": m}, st.sampled_from(PATHS),
                  st.sampled_from(["GET", "POST"])),
        st.builds(lambda v: {**host, "headers": {"X-A": v}}, st.sampled_from(["1", "2", ["1", "3"]])),
        st.builds(lambda v: {**host, "cookies": {"c": v}}, st.sampled_from(["1", "2"])),
        st.builds(lambda v: {**host, "query": {"q": v}}, st.sampled_from(["1", ["2", "3"]])),
        st.just(host)))
routes = st.lists(st.fixed_dictionaries({"match": st.one_of(simple, simple, conditions),
                                         "pool": st.sampled_from(POOL_NAMES)}),
                  min_size=1, max_size=12)


def in_order(router: Router, host: str, url: str, method: str, req: Any) -> object:
    """The reference: try every route in turn."""
    host_bytes = normal_host(host.encode())
    path = url.encode().split(b"?")[0]
    facts = Facts(req, url.encode())
    for rule in router.rules:
        if rule.matches(host_bytes, path, method.encode(), facts, req.peer_address, req.country):
            return rule.target
    return router.default


@settings(max_examples=300, deadline=None)
@given(routes=routes, host=st.sampled_from([*HOSTS, "A.EXAMPLE:8080", "other.org"]),
       path=st.sampled_from(PATHS), query=st.sampled_from(["", "?q=1", "?q=2"]),
       method=st.sampled_from(["GET", "POST", "DELETE"]),
       headers=st.sampled_from([{}, {"X-A": "1"}, {"x-a": "3"}, {"X-B": "2", "Cookie": "c=1"},
                                {"X-A": "2", "Cookie": "c=2"}]),
       default=st.booleans())
def test_the_router_agrees_with_trying_every_route_in_order(
        routes: list[dict[str, Any]], host: str, path: str, query: str, method: str,
        headers: dict[str, str], default: bool) -> None:
    router, _ = make_router(routes, **({"default_pool": "web"} if default else {}))
    req = request(headers)
    url = path + query
    assert router.route(host.encode(), url.encode(), method.encode(), req) is in_order(
        router, host, url, method, req)
