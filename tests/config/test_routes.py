"""Route config: every match key, splits and stickiness, and an error naming the field and
the fix for each mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from laneway.config import ConfigError, parse_config
from tests.support.geoip import write_database


def document(route: dict[str, Any], **listener: Any) -> dict[str, Any]:
    return {"listeners": [{"name": "web", "bind": "127.0.0.1:8080", "routes": [route], **listener}],
            "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]},
                      "web": {"servers": [{"address": "127.0.0.1:9002"}]}}}


def problems(route: dict[str, Any], **listener: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(route, **listener), "site.yaml")
    return caught.value.problems


def test_every_match_key_parses_with_its_shorthands() -> None:
    config = parse_config(document({"match": {
        "host": "*.Example.com", "path_prefix": "/api/", "path": "/api/x", "path_regex": r"^/api/\d+$",
        "method": "GET", "headers": {"X-Mobile-App": True, "X-Country": ["DE", "FR"],
                                     "User-Agent": {"regex": "(?i)bot"}},
        "cookies": {"beta_tester": "true"}, "query": {"debug": {"present": False}},
        "client_address": "10.0.0.0/8"}, "pool": "api"}))
    match = config.listeners[0].routes[0].match
    assert match.host == "*.example.com"
    assert match.method == ["GET"]
    assert match.client_address == ["10.0.0.0/8"]
    assert match.headers is not None and match.headers["X-Mobile-App"].present is True
    assert match.headers["X-Country"].equals == ["DE", "FR"]
    assert match.cookies is not None and match.cookies["beta_tester"].equals == ["true"]
    assert match.query is not None and match.query["debug"].present is False


def test_a_split_and_a_default_pool_parse() -> None:
    config = parse_config(document({"split": [{"pool": "api", "weight": 10}, {"pool": "web", "weight": 90}],
                                    "sticky": {"cookie": "lw_arm", "max_age": "1h"}}, default_pool="web"))
    route = config.listeners[0].routes[0]
    assert [(arm.pool, arm.weight) for arm in route.split or []] == [("api", 10), ("web", 90)]
    assert route.sticky is not None and route.sticky.max_age == 3600
    assert config.listeners[0].default_pool == "web"


def test_a_listener_with_only_a_default_pool_is_fine() -> None:
    config = parse_config({**document({"pool": "api"}), "listeners": [
        {"name": "web", "bind": "127.0.0.1:8080", "default_pool": "web"}]})
    assert config.listeners[0].routes == []


@pytest.mark.parametrize(("route", "expected"), [
    ({"match": {"path_regex": "/api/(v1"}, "pool": "api"},
     "listeners[0].routes[0].match.path_regex: path_regex is not a valid regular expression "
     "(missing ), unterminated subpattern at position 5); see https://docs.python.org/3/library/re.html, "
     "got '/api/(v1'"),
    ({"match": {"headers": {"User-Agent": {"regex": "*bot"}}}, "pool": "api"},
     "listeners[0].routes[0].match.headers.User-Agent.regex: regex is not a valid regular expression "
     "(nothing to repeat at position 0); see https://docs.python.org/3/library/re.html, got '*bot'"),
    ({"match": {"host": "admin.example.com:8080"}, "pool": "api"},
     "listeners[0].routes[0].match.host: a host is matched without its port; write 'admin.example.com', "
     "got 'admin.example.com:8080'"),
    ({"match": {"host": "www.*.com"}, "pool": "api"},
     "listeners[0].routes[0].match.host: a host is a name such as admin.example.com, or *.example.com "
     "for every name under example.com (a * only as the first label), got 'www.*.com'"),
    ({"match": {"path": "api"}, "pool": "api"},
     "listeners[0].routes[0].match.path: a path starts with /, got 'api'"),
    ({"match": {"method": ["GET", "post"]}, "pool": "api"},
     "listeners[0].routes[0].match.method: a method is upper-case letters, e.g. GET or POST, got 'post'"),
    ({"match": {"client_address": ["10.0.0.0/33"]}, "pool": "api"},
     "listeners[0].routes[0].match.client_address: client_address takes address ranges such as "
     "10.0.0.0/8, 192.168.1.7 or 2001:db8::/32, got '10.0.0.0/33'"),
    ({"match": {"headers": {"X-A": {"equals": "1", "regex": "2"}}}, "pool": "api"},
     "listeners[0].routes[0].match.headers.X-A: give exactly one of present, equals, regex, got "
     "equals, regex; e.g. {equals: 'true'} or {present: true}"),
    ({"match": {"cookies": {"beta": {}}}, "pool": "api"},
     "listeners[0].routes[0].match.cookies.beta: give exactly one of present, equals, got none; "
     "e.g. {equals: 'true'} or {present: true}"),
    ({"match": {"headers": {"Host": "a"}}, "pool": "api"},
     "listeners[0].routes[0].match.headers: match the Host header with match.host, "
     "e.g. host: admin.example.com"),
    ({"match": {"headers": {"Connection": True}}, "pool": "api"},
     "listeners[0].routes[0].match.headers: Connection is hop-by-hop or set by laneway, so a route "
     "cannot match on it; match on another header"),
    ({"match": {"headers": {"X-A": True, "x-a": True}}, "pool": "api"},
     "listeners[0].routes[0].match.headers: header names ignore case, so x-a is given twice; keep one"),
    ({"match": {"headers": {"X A": True}}, "pool": "api"},
     "listeners[0].routes[0].match.headers: a header name is letters, digits and -, e.g. X-Mobile-App, "
     "got 'X A'"),
    ({"match": {"path_prefix": "/"}},
     "listeners[0].routes[0]: give exactly one of pool (e.g. pool: web), split (e.g. split: "
     "[{pool: web-v2, weight: 10}, {pool: web, weight: 90}]), respond (e.g. respond: {status: 200, "
     "body: healthy}) or redirect (e.g. redirect: {location: 'https://$host$request_uri', status: 301})"),
    ({"pool": "web", "split": [{"pool": "api", "weight": 1}]},
     "listeners[0].routes[0]: give exactly one of pool (e.g. pool: web), split (e.g. split: "
     "[{pool: web-v2, weight: 10}, {pool: web, weight: 90}]), respond (e.g. respond: {status: 200, "
     "body: healthy}) or redirect (e.g. redirect: {location: 'https://$host$request_uri', status: 301})"
     "; this route gives pool and split"),
    ({"pool": "web", "respond": {"body": "ok"}},
     "listeners[0].routes[0]: give exactly one of pool (e.g. pool: web), split (e.g. split: "
     "[{pool: web-v2, weight: 10}, {pool: web, weight: 90}]), respond (e.g. respond: {status: 200, "
     "body: healthy}) or redirect (e.g. redirect: {location: 'https://$host$request_uri', status: 301})"
     "; this route gives pool and respond"),
    ({"respond": {"status": 200}, "rate_limit": {"rate": 10}},
     "listeners[0].routes[0]: a route that laneway answers itself (respond) takes no rate_limit, "
     "max_body_size, compression, cache, request_headers, response_headers or rewrite; remove them"),
    ({"respond": {"status": 302}},
     "listeners[0].routes[0].respond.status: status 302 cannot be a fixed response: 204 and 304 carry "
     "no body, and a 3xx is a redirect (use redirect: {location: ..., status: 301})"),
    ({"respond": {"headers": {"Content-Length": "3"}}},
     "listeners[0].routes[0].respond.headers: laneway sets Content-Length itself; remove it from headers "
     "(content_type sets Content-Type)"),
    ({"redirect": {"location": "https://$hostname/"}},
     "listeners[0].routes[0].redirect.location: unknown variable $hostname in 'https://$hostname/'; "
     "known variables: $scheme, $host, $request_uri, $path, $query (write $$ for a dollar sign)"),
    ({"split": [{"pool": "api", "weight": 0}, {"pool": "web", "weight": 0}]},
     "listeners[0].routes[0]: split: at least one arm needs a weight above 0"),
    ({"split": [{"pool": "api", "weight": -1}, {"pool": "web", "weight": 1}]},
     "listeners[0].routes[0].split[0].weight: must be >= 0, got -1"),
    ({"split": [{"pool": "api", "weight": 1}, {"pool": "api", "weight": 2}]},
     "listeners[0].routes[0]: split: pool api is named twice; give each pool one arm"),
    ({"pool": "web", "sticky": {"cookie": "lw_arm"}},
     "listeners[0].routes[0]: sticky applies to a split (it remembers the arm); a route to one pool "
     "needs no stickiness"),
    ({"split": [{"pool": "api", "weight": 1}], "sticky": {"cookie": "lw_arm", "secret": "short"}},
     "listeners[0].routes[0].sticky.secret: string should have at least 16 characters, got 'short'"),
])
def test_a_route_mistake_names_the_field_and_the_fix(route: dict[str, Any], expected: str) -> None:
    assert problems(route) == [f"site.yaml: {expected}"]


def test_split_arms_and_the_default_pool_must_name_pools_that_exist() -> None:
    assert problems({"split": [{"pool": "api", "weight": 1}, {"pool": "wbe", "weight": 1}]},
                    default_pool="nowhere") == [
        "site.yaml: listeners[0].default_pool: no pool is named 'nowhere'; defined pools: api, web",
        "site.yaml: listeners[0].routes[0].split[1].pool: no pool is named 'wbe'; defined pools: api, web",
    ]


def test_a_listener_without_routes_or_default_says_what_to_add() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**document({"pool": "api"}), "listeners": [{"name": "web", "bind": "127.0.0.1:8080"}]},
                     "site.yaml")
    assert caught.value.problems == [
        "site.yaml: listeners[0]: an http listener needs routes, e.g. routes: [{pool: web}], "
        "a default_pool, or both; or redirect_to_https: true for one that only sends clients to HTTPS"]


def test_an_unknown_match_key_lists_the_known_ones() -> None:
    [line] = problems({"match": {"header": {"X-A": True}}, "pool": "api"})
    assert line.startswith("site.yaml: listeners[0].routes[0].match.header: unknown key; "
                           "did you mean 'headers'? known keys: host, path_prefix, path, path_regex, method, "
                           "headers, cookies, query, client_address, country"), line


def test_country_needs_a_geoip_database() -> None:
    assert problems({"match": {"country": ["DE", "FR"]}, "pool": "api"}) == [
        "site.yaml: listeners[0].routes[0].match.country: needs a database of addresses' countries: "
        "add geoip: {database: /path/to/GeoLite2-Country.mmdb} at the top of the config"]


def test_country_codes_and_the_database_path_are_checked(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mmdb"
    with pytest.raises(ConfigError) as caught:
        parse_config({**document({"match": {"country": ["de"]}, "pool": "api"}),
                      "geoip": {"database": str(missing)}}, "site.yaml")
    assert caught.value.problems == [
        "site.yaml: listeners[0].routes[0].match.country: a country is a two-letter ISO 3166-1 code in "
        "capitals, e.g. DE or US, got 'de'",
        "site.yaml: geoip.database: no readable file at "
        f"'{missing}' (relative paths start where laneway runs); give the path of a MaxMind .mmdb "
        "database, e.g. GeoLite2-Country.mmdb",
    ]


def test_a_country_route_with_a_database_parses(tmp_path: Path) -> None:
    database = write_database(tmp_path / "countries.mmdb")
    config = parse_config({**document({"match": {"country": "DE"}, "pool": "api"}),
                           "geoip": {"database": str(database)}})
    assert config.listeners[0].routes[0].match.country == ["DE"]
    assert config.geoip is not None and config.geoip.database == str(database)


def test_a_tcp_listener_takes_no_http_match_split_or_default_pool() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**document({"pool": "api"}), "listeners": [
            {"name": "db", "bind": "127.0.0.1:5432", "protocol": "tcp", "default_pool": "web",
             "routes": [{"match": {"sni": "a.example", "method": "GET"}, "pool": "api"},
                        {"split": [{"pool": "api", "weight": 1}]}]}]}, "site.yaml")
    [line] = caught.value.problems
    assert line.startswith("site.yaml: listeners[0]: default_pool, routes[0].match.method, routes[1].split "
                           "applies only to protocol http"), line
