"""The matcher: every kind of condition, order semantics, and the host index."""

from __future__ import annotations

import pytest

from laneway.routing import normal_host
from tests.routing.support import FakeRequest, make_router, pool_of, request


def test_exact_host_ignores_case_port_and_a_final_dot() -> None:
    router, _ = make_router([{"match": {"host": "Admin.Example.com"}, "pool": "a"}], default_pool="web")
    for host in ("admin.example.com", "ADMIN.example.com:8080", "admin.example.com.",
                 "admin.example.com.:80"):
        assert pool_of(router, host=host) == "a", host
    for host in ("example.com", "www.admin.example.com", "admin.example.co", ""):
        assert pool_of(router, host=host) == "web", host


def test_ipv6_host_with_a_port() -> None:
    router, _ = make_router([{"match": {"host": "[::1]"}, "pool": "a"}], default_pool="web")
    assert pool_of(router, host="[::1]:8080") == "a"
    assert pool_of(router, host="[::2]:8080") == "web"
    assert normal_host(b"[::1]:8080") == b"[::1]"


def test_wildcard_host_matches_one_or_more_labels_but_not_the_domain_itself() -> None:
    router, _ = make_router([{"match": {"host": "*.example.com"}, "pool": "a"}], default_pool="web")
    assert pool_of(router, host="www.example.com") == "a"
    assert pool_of(router, host="a.b.example.com:81") == "a", "like NGINX: any number of labels"
    assert pool_of(router, host="example.com") == "web"
    assert pool_of(router, host="badexample.com") == "web"


def test_paths_prefix_exact_and_regex_ignore_the_query() -> None:
    router, _ = make_router([
        {"match": {"path": "/health"}, "pool": "a"},
        {"match": {"path_prefix": "/api/"}, "pool": "b"},
        {"match": {"path_regex": r"\.(png|jpg)$"}, "pool": "c"},
    ], default_pool="web")
    assert pool_of(router, "/health") == "a"
    assert pool_of(router, "/health?verbose=1") == "a"
    assert pool_of(router, "/health/x") == "web", "path is exact"
    assert pool_of(router, "/api/users?id=3") == "b"
    assert pool_of(router, "/api") == "web"
    assert pool_of(router, "/img/cat.png?size=2") == "c", "the regex is searched in the path"
    assert pool_of(router, "/img/cat.png.html") == "web"
    assert pool_of(router, "/x?file=cat.png") == "web", "the query is not part of the path"


def test_method_one_or_a_list() -> None:
    router, _ = make_router([{"match": {"method": "POST"}, "pool": "a"},
                             {"match": {"method": ["PUT", "DELETE"]}, "pool": "b"}], default_pool="web")
    assert pool_of(router, method="POST") == "a"
    assert pool_of(router, method="DELETE") == "b"
    assert pool_of(router, method="GET") == "web"


def test_headers_present_absent_equals_and_regex_with_names_in_any_case() -> None:
    router, _ = make_router([
        {"match": {"headers": {"x-mobile-app": True}}, "pool": "a"},
        {"match": {"headers": {"CloudFront-Viewer-Country": ["UK", "FR", "DE"]}}, "pool": "b"},
        {"match": {"headers": {"User-Agent": {"regex": "(?i)bot"}, "X-Human": {"present": False}}},
         "pool": "c"},
    ], default_pool="web")
    assert pool_of(router, req=request({"X-MOBILE-APP": ""})) == "a", "present even when empty"
    assert pool_of(router, req=request({"cloudfront-viewer-country": "FR"})) == "b"
    assert pool_of(router, req=request({"CloudFront-Viewer-Country": "US"})) == "web"
    assert pool_of(router, req=request({"CloudFront-Viewer-Country": "fr"})) == "web", "values are exact"
    assert pool_of(router, req=request({"User-Agent": "GoogleBot/2"})) == "c"
    assert pool_of(router, req=request({"User-Agent": "GoogleBot/2", "X-Human": "1"})) == "web"


def test_a_repeated_header_is_matched_on_its_joined_value() -> None:
    router, _ = make_router([{"match": {"headers": {"X-Tag": "one, two"}}, "pool": "a"}], default_pool="web")
    assert pool_of(router, req=request([("X-Tag", "one"), ("x-tag", "two")])) == "a"
    assert pool_of(router, req=request([("X-Tag", "one")])) == "web"


def test_headers_laneway_keeps_apart_can_be_matched() -> None:
    router, _ = make_router([{"match": {"headers": {"Upgrade": {"regex": "(?i)^websocket$"}}}, "pool": "a"}],
                            default_pool="web")
    assert pool_of(router, req=request(upgrade="WebSocket")) == "a"
    assert pool_of(router, req=request()) == "web"


def test_cookies_equal_or_present() -> None:
    router, _ = make_router([{"match": {"cookies": {"beta_tester": "true"}}, "pool": "a"},
                             {"match": {"cookies": {"sid": True}}, "pool": "b"}], default_pool="web")
    assert pool_of(router, req=request({"Cookie": "lang=en; beta_tester=true"})) == "a"
    assert pool_of(router, req=request([("Cookie", "lang=en"), ("Cookie", "beta_tester=true")])) == "a"
    assert pool_of(router, req=request({"Cookie": "beta_tester=false; sid=1"})) == "b"
    assert pool_of(router, req=request({"Cookie": "xbeta_tester=true"})) == "web"
    assert pool_of(router, req=request({"X-Cookie": "beta_tester=true"})) == "web"


def test_query_parameters_equal_or_present_percent_decoded() -> None:
    router, _ = make_router([{"match": {"query": {"version": "2"}}, "pool": "a"},
                             {"match": {"query": {"debug": True}}, "pool": "b"},
                             {"match": {"query": {"q": "a b"}}, "pool": "c"}], default_pool="web")
    assert pool_of(router, "/x?a=1&version=2") == "a"
    assert pool_of(router, "/x?%76ersion=%32") == "a"
    assert pool_of(router, "/x?version=3&debug") == "b"
    assert pool_of(router, "/x?q=a%20b") == "c"
    assert pool_of(router, "/x") == "web"


@pytest.mark.parametrize(("client", "expected"), [
    ("10.1.2.3", "a"), ("192.168.7.7", "a"), ("192.168.8.1", "web"), ("2001:db8::5", "a"),
    ("::ffff:10.0.0.1", "a"), ("127.0.0.1", "web"), (None, "web"),
])
def test_client_address_ranges(client: str | None, expected: str) -> None:
    router, _ = make_router([{"match": {"client_address": ["10.0.0.0/8", "192.168.7.0/24", "2001:db8::/32"]},
                              "pool": "a"}], default_pool="web")
    assert router.needs_client_address
    assert pool_of(router, req=request(client=client)) == expected


def test_every_condition_of_a_match_must_hold() -> None:
    router, _ = make_router([{"match": {"host": "api.example", "path_prefix": "/v2/", "method": "GET",
                                        "headers": {"X-Key": True}}, "pool": "a"}], default_pool="web")
    good = {"host": "api.example", "url": "/v2/x", "method": "GET", "req": request({"X-Key": "k"})}
    assert pool_of(router, **good) == "a"  # type: ignore[arg-type]
    for change in ({"host": "www.example"}, {"url": "/v1/x"}, {"method": "POST"}, {"req": request()}):
        assert pool_of(router, **{**good, **change}) == "web", change  # type: ignore[arg-type]


def test_first_match_wins_across_hosts_and_paths() -> None:
    router, _ = make_router([
        {"match": {"path_prefix": "/shared/"}, "pool": "a"},
        {"match": {"host": "h.example"}, "pool": "b"},
        {"match": {"host": "*.example", "path_prefix": "/wild/"}, "pool": "c"},
        {"match": {"host": "h.example", "path_prefix": "/never/"}, "pool": "d"},
        {"match": {"path_prefix": "/"}, "pool": "web"},
    ])
    assert pool_of(router, "/shared/x", host="h.example") == "a", "an earlier hostless route wins"
    assert pool_of(router, "/wild/x", host="h.example") == "b"
    assert pool_of(router, "/never/x", host="h.example") == "b", "shadowed by the host route"
    assert pool_of(router, "/wild/x", host="o.example") == "c"
    assert pool_of(router, "/other", host="o.example") == "web"


def test_the_longer_prefix_does_not_win_the_earlier_does() -> None:
    router, _ = make_router([{"match": {"path_prefix": "/a"}, "pool": "a"},
                             {"match": {"path_prefix": "/a/b/"}, "pool": "b"},
                             {"match": {"path": "/a/b/c"}, "pool": "c"}])
    assert pool_of(router, "/a/b/c") == "a"
    router, _ = make_router([{"match": {"path": "/a/b/c"}, "pool": "c"},
                             {"match": {"path_prefix": "/a/b/"}, "pool": "b"},
                             {"match": {"path_prefix": "/a"}, "pool": "a"}])
    assert [pool_of(router, p) for p in ("/a/b/c", "/a/b/d", "/ax", "/b")] == ["c", "b", "a", None]


def test_no_match_is_none_or_the_default_pool() -> None:
    router, _ = make_router([{"match": {"path_prefix": "/api/"}, "pool": "a"}])
    assert pool_of(router, "/x") is None
    router, _ = make_router([{"match": {"path_prefix": "/api/"}, "pool": "a"}], default_pool="b")
    assert pool_of(router, "/x") == "b"


def test_a_single_catch_all_or_only_a_default_needs_no_matching() -> None:
    router, pools = make_router([{"pool": "a"}])
    assert router.catch_all is pools["a"]
    router, pools = make_router([], default_pool="b")
    assert router.catch_all is pools["b"]
    router, _ = make_router([{"match": {"path_prefix": "/"}, "pool": "a"}])
    assert router.catch_all is None


class Untouchable(FakeRequest):
    """A request whose headers must not be read: routing on host and path alone never does."""

    def __getattribute__(self, name: str) -> object:
        if name in ("headers", "upgrade", "forwarded_for", "content_length", "transfer_encoding"):
            raise AssertionError(f"the router read {name} but no route needs it")
        return super().__getattribute__(name)


def test_routes_on_host_and_path_never_read_headers() -> None:
    router, _ = make_router([
        {"match": {"host": "*.example", "path_regex": "^/x"}, "pool": "a"},
        {"match": {"host": "h.example", "path_prefix": "/api/"}, "pool": "b"},
        {"match": {"path": "/p", "method": ["GET", "HEAD"]}, "pool": "c"},
    ], default_pool="web")
    for host, url, expected in (("a.example", "/x", "a"), ("h.example", "/api/1?q", "b"),
                                ("z.org", "/p", "c"), ("z.org", "/q", "web")):
        assert pool_of(router, url, host=host, req=Untouchable()) == expected


def test_headers_are_read_only_when_a_route_that_needs_them_is_tried() -> None:
    router, _ = make_router([{"match": {"path_prefix": "/api/"}, "pool": "a"},
                             {"match": {"cookies": {"beta": "1"}}, "pool": "b"}], default_pool="web")
    assert pool_of(router, "/api/x", req=Untouchable()) == "a"
    with pytest.raises(AssertionError, match="read headers"):
        pool_of(router, "/other", req=Untouchable())


def test_a_request_in_absolute_form_is_routed_by_its_target_not_its_host_header() -> None:
    """RFC 9112 3.2.2: the target's authority wins over Host, so a route cannot be sidestepped."""
    router, _ = make_router([{"match": {"host": "admin.example", "path_prefix": "/x/"}, "pool": "a"},
                             {"match": {"host": "www.example"}, "pool": "b"}], default_pool="web")
    assert pool_of(router, "http://admin.example/x/1", host="www.example") == "a"
    assert pool_of(router, "http://user@ADMIN.example:8080/x/?q", host="www.example") == "a"
    assert pool_of(router, "http://admin.example?q=/x/", host="www.example") == "web"
    assert pool_of(router, "*", host="www.example", method="OPTIONS") == "b"


def test_routes_with_a_path_and_more_keep_their_order() -> None:
    """Routes testing a path and something else are found by their path, then tried in config
    order, whichever of them has the longer prefix or the exact path."""
    router, _ = make_router([{"match": {"path_prefix": "/a/b/", "method": "GET"}, "pool": "b"},
                             {"match": {"path_prefix": "/a/", "method": "GET"}, "pool": "c"},
                             {"match": {"path": "/a/x", "method": ["GET", "PUT"]}, "pool": "d"},
                             {"match": {"path_prefix": "/a"}, "pool": "a"}])
    assert pool_of(router, "/a/b/x") == "b"
    assert pool_of(router, "/a/x") == "c", "the earlier prefix route beats the later exact one"
    assert pool_of(router, "/a/x", method="PUT") == "d"
    assert pool_of(router, "/a/b/x", method="POST") == "a"
    assert pool_of(router, "/b", method="POST") is None
