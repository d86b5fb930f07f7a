"""Route edits in the config: request_headers, response_headers and rewrite; every mistake is
refused when the file is read, naming the field, what is wrong and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, parse_config

ROUTE = "site.yaml: listeners[0].routes[0]"


def document(route: dict[str, Any], **listener: Any) -> dict[str, Any]:
    return {"listeners": [{"name": "web", "bind": "127.0.0.1:8080", "routes": [{"pool": "api", **route}],
                           **listener}],
            "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}}


def problems(route: dict[str, Any], **listener: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(route, **listener), "site.yaml")
    return caught.value.problems


def test_header_edits_parse() -> None:
    config = parse_config(document({
        "request_headers": {"set": {"Host": "internal", "X-Client": "$client_ip"}, "add": {"X-Version": 2},
                            "remove": ["Cookie"]},
        "response_headers": {"set": {"X-Served-By": "${server} for $request_id"}, "remove": ["Server"]},
    }, request_id_header="X-Request-Id"))
    route = config.listeners[0].routes[0]
    assert route.request_headers is not None and route.request_headers.add == {"X-Version": "2"}
    assert route.request_headers.variables == {"client_ip"}
    assert route.response_headers is not None and route.response_headers.variables == {"server", "request_id"}
    assert route.has_policies and route.edits_messages


@pytest.mark.parametrize(("route", "expected"), [
    ({"request_headers": {"set": {"X-A": "$clientip"}}},
     f"{ROUTE}.request_headers: set.X-A: unknown variable $clientip in '$clientip'; known variables: "
     "$client_ip, $request_id, $host, $scheme, $request_uri, $path, $query (write $$ for a dollar sign)"),
    ({"response_headers": {"add": {"X-A": "${nope}"}}},
     f"{ROUTE}.response_headers: add.X-A: unknown variable $nope in '${{nope}}'; known variables: "
     "$client_ip, $request_id, $host, $scheme, $request_uri, $path, $query, $server (write $$ for a "
     "dollar sign)"),
    ({"request_headers": {"set": {"X-A": "$server"}}},
     f"{ROUTE}.request_headers: set.X-A: $server is known only in response_headers: the server is "
     "picked after the request's headers are written"),
    ({"request_headers": {"set": {"X-A": "1", "x-a": "2"}}},
     f"{ROUTE}.request_headers: set: X-A, x-a name one header (names are compared without regard to "
     "case); give it once"),
    ({"request_headers": {"add": {"X A": "1"}}},
     f"{ROUTE}.request_headers: add: 'X A' is not a header name (letters, digits and "
     "!#$%&'*+.^_`|~- only, no spaces or colons)"),
    ({"response_headers": {"remove": ["X-A:"]}},
     f"{ROUTE}.response_headers: remove: 'X-A:' is not a header name (letters, digits and "
     "!#$%&'*+.^_`|~- only, no spaces or colons)"),
    ({"request_headers": {"set": {"X-A": "a\r\nX-Smuggled: 1"}}},
     f"{ROUTE}.request_headers: set.X-A: a header value may not hold control characters such as CR, "
     "LF or NUL, got 'a\\r\\nX-Smuggled: 1'"),
    ({"response_headers": {"add": {"X-A": "a\x00b"}}},
     f"{ROUTE}.response_headers: add.X-A: a header value may not hold control characters such as CR, "
     "LF or NUL, got 'a\\x00b'"),
])
def test_bad_names_values_and_variables_are_refused(route: dict[str, Any], expected: str) -> None:
    assert problems(route) == [expected]


@pytest.mark.parametrize(("side", "key", "name", "why"), [
    ("request_headers", "set", "Content-Length", "it is framing"),
    ("request_headers", "add", "transfer-encoding", "it is framing"),
    ("request_headers", "remove", "Connection", "it is hop-by-hop"),
    ("request_headers", "set", "Upgrade", "it is hop-by-hop"),
    ("request_headers", "set", "Expect", "100 Continue"),
    ("request_headers", "set", "X-Forwarded-For", "laneway sets it on every request itself"),
    ("request_headers", "remove", "X-Real-IP", "laneway sets it on every request itself"),
    ("request_headers", "add", "Host", "exactly one Host"),
    ("request_headers", "remove", "Host", "set it instead"),
    ("response_headers", "set", "Content-Length", "it is framing"),
    ("response_headers", "remove", "Transfer-Encoding", "it is framing"),
    ("response_headers", "add", "Keep-Alive", "it is hop-by-hop"),
    ("response_headers", "set", "Content-Encoding", "laneway's compression sets it"),
])
def test_framing_and_hop_by_hop_headers_cannot_be_changed(side: str, key: str, name: str, why: str) -> None:
    edit: Any = [name] if key == "remove" else {name: "x"}
    [problem] = problems({side: {key: edit}})
    assert problem.startswith(f"{ROUTE}.{side}: {key}: {name} cannot be changed: ")
    assert why in problem and problem.endswith(f"remove it from {key}")


def test_host_may_be_set_on_requests_but_not_on_responses_differently() -> None:
    assert parse_config(document({"request_headers": {"set": {"host": "internal"}}}))
    assert parse_config(document({"response_headers": {"set": {"Host": "x"}}})), \
        "a response Host is just a header"


def test_request_id_needs_the_listeners_request_id_header() -> None:
    assert problems({"response_headers": {"set": {"X-Id": "$request_id"}}}) == [
        "site.yaml: listeners[0]: routes[0].response_headers uses $request_id, which is the listener's "
        "request id: set request_id_header on the listener, e.g. request_id_header: X-Request-Id"]


def test_the_request_id_header_is_laneways_own() -> None:
    assert problems({"request_headers": {"remove": ["x-request-id"]}}, request_id_header="X-Request-Id") == [
        "site.yaml: listeners[0]: routes[0].request_headers changes X-Request-Id, the listener's "
        "request_id_header, which laneway keeps or makes up itself; remove it there"]


def test_tcp_listeners_take_no_edits() -> None:
    doc = {"listeners": [{"name": "tls", "bind": "127.0.0.1:8443", "protocol": "tcp", "routes": [
        {"pool": "api", "request_headers": {"add": {"X-A": "1"}}, "rewrite": {"strip_prefix": "/a"}}]}],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, "site.yaml")
    assert caught.value.problems == [
        "site.yaml: listeners[0]: routes[0].request_headers, routes[0].rewrite applies only to protocol "
        "http; a tcp listener reads no HTTP: route by sni, or use an http listener"]


def test_unknown_keys_name_the_known_ones() -> None:
    assert problems({"request_headers": {"sets": {"X-A": "1"}}}) == [
        f"{ROUTE}.request_headers.sets: unknown key; did you mean 'set'? known keys: add, set, remove"]


def test_rewrites_parse() -> None:
    for rewrite in ({"strip_prefix": "/api"}, {"replace_prefix": {"from": "/old", "to": "/new"}},
                    {"regex": {"pattern": r"^/u/(?P<id>\d+)$", "replacement": r"/users/\g<id>"}}):
        route = parse_config(document({"rewrite": rewrite})).listeners[0].routes[0]
        assert route.rewrite is not None and route.edits_messages


@pytest.mark.parametrize(("rewrite", "expected"), [
    ({"strip_prefix": "api"}, "rewrite: strip_prefix must start with /, e.g. /api, got 'api'"),
    ({"strip_prefix": "/api?x"}, "rewrite: strip_prefix may not contain spaces, control characters, "
     "non-ASCII, '?' or '#' (the query is kept as it is; percent-encode other bytes), got '/api?x'"),
    ({"replace_prefix": {"from": "/a", "to": "b"}}, "rewrite.replace_prefix: to must start with /, e.g. "
     "/api, got 'b'"),
    ({"replace_prefix": {"from": "/a"}}, "rewrite.replace_prefix.to: required but missing; add it"),
    ({"regex": {"pattern": "^/(a", "replacement": "/"}},
     "rewrite.regex: pattern is not a valid regular expression: missing ), unterminated subpattern at "
     "position 2"),
    ({"regex": {"pattern": r"^/(\d+)$", "replacement": r"/n/\2"}},
     r"rewrite.regex: replacement '/n/\\2': invalid group reference 2 at position 4; the pattern has "
     "1 group(s)"),
    ({"regex": {"pattern": "^/x$", "replacement": "/y z"}}, "rewrite.regex: replacement may not contain "
     "spaces, control characters, non-ASCII, '?' or '#' (the query is kept as it is; percent-encode "
     "other bytes), got '/y z'"),
    ({}, "rewrite: give exactly one of strip_prefix (e.g. /api), replace_prefix (e.g. {from: /old, to: "
     "/new}) or regex ({pattern: ..., replacement: ...}), got none"),
    ({"strip_prefix": "/a", "regex": {"pattern": "a", "replacement": "b"}},
     "rewrite: give exactly one of strip_prefix (e.g. /api), replace_prefix (e.g. {from: /old, to: "
     "/new}) or regex ({pattern: ..., replacement: ...}), got strip_prefix, regex"),
])
def test_bad_rewrites_are_refused(rewrite: dict[str, Any], expected: str) -> None:
    assert problems({"rewrite": rewrite}) == [f"{ROUTE}.{expected}"]


def test_a_rewrite_the_route_never_reaches_is_refused() -> None:
    assert problems({"match": {"path_prefix": "/api/"}, "rewrite": {"strip_prefix": "/v1"}}) == [
        f"{ROUTE}: rewrite: the route matches paths starting /api/, and none of them starts with /v1, "
        "so the rewrite never applies; rewrite a prefix of what the route matches"]
    assert parse_config(document({"match": {"path_prefix": "/api/"}, "rewrite": {"strip_prefix": "/api"}}))
    assert parse_config(document({"match": {"path_prefix": "/a"}, "rewrite": {"strip_prefix": "/a/b"}}))


def test_a_misspelt_from_names_the_key_as_the_file_spells_it() -> None:
    assert problems({"rewrite": {"replace_prefix": {"form": "/a", "to": "/b"}}}) == [
        f"{ROUTE}.rewrite.replace_prefix.from: required but missing; add it",
        f"{ROUTE}.rewrite.replace_prefix.form: unknown key; did you mean 'from'? known keys: from, to"]
