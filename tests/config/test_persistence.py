"""Route persistence config: the shorthands and defaults, and an error naming the field and
the fix for each mistake."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import parse_config
from tests.config.test_routes import document, problems


def test_true_takes_every_default() -> None:
    cookie = parse_config(document({"pool": "api", "persistence": {"cookie": True}})).listeners[0].routes[0]
    assert cookie.persistence is not None and cookie.persistence.cookie is not None
    assert (cookie.persistence.cookie.name, cookie.persistence.cookie.path) == ("laneway_server", "/")
    assert cookie.persistence.cookie.secret is None and cookie.persistence.cookie.secure is None
    assert cookie.has_policies
    source = parse_config(document({"pool": "api", "persistence": {"source": True}})).listeners[0].routes[0]
    assert source.persistence is not None and source.persistence.source is not None
    assert (source.persistence.source.expire, source.persistence.source.max_entries) == (1800.0, 100_000)


def test_every_setting_parses() -> None:
    route = parse_config(document({"split": [{"pool": "api", "weight": 1}, {"pool": "web", "weight": 1}],
                                   "sticky": {"cookie": "lw_arm"},
                                   "persistence": {"cookie": {
                                       "name": "srv", "secret": "0123456789abcdef", "max_age": "1h",
                                       "path": "/shop/", "domain": ".example.com", "secure": True}}}))
    cookie = route.listeners[0].routes[0].persistence.cookie  # type: ignore[union-attr]
    assert cookie is not None and cookie.max_age == 3600 and cookie.domain == ".example.com"
    source = parse_config(document({"pool": "api", "persistence": {"source": {"expire": "10m",
                                                                               "max_entries": 5}}}))
    assert source.listeners[0].routes[0].persistence.source.expire == 600  # type: ignore[union-attr]


PREFIX = "listeners[0].routes[0].persistence"


@pytest.mark.parametrize(("persistence", "expected"), [
    ({}, f"{PREFIX}: give exactly one of cookie (e.g. cookie: {{name: laneway_server}}) or source "
         "(e.g. source: {expire: 30m})"),
    ({"cookie": True, "source": True}, f"{PREFIX}: give exactly one of cookie (e.g. cookie: "
                                       "{name: laneway_server}) or source (e.g. source: {expire: 30m})"),
    ({"cookie": False}, f"{PREFIX}: give exactly one of cookie (e.g. cookie: {{name: laneway_server}}) or "
                        "source (e.g. source: {expire: 30m})"),
    ({"cookei": {}}, f"{PREFIX}.cookei: unknown key; did you mean 'cookie'? known keys: cookie, source"),
    ({"cookie": {"secret": "0123456789abcdef", "secret_env": "LW_SECRET"}},
     f"{PREFIX}.cookie: give secret or secret_env, not both"),
    ({"cookie": {"secret": "short"}},
     f"{PREFIX}.cookie.secret: string should have at least 16 characters, got 'short'"),
    ({"cookie": {"secret_env": "1SECRET"}},
     f"{PREFIX}.cookie.secret_env: may contain an environment variable's name: letters, digits and '_', "
     "not starting with a digit, got '1SECRET'"),
    ({"cookie": {"name": "my server"}},
     f"{PREFIX}.cookie.name: may contain only letters, digits and !#$%&'*+-.^_`|~ (a header or cookie name: "
     "no spaces, no ; or =), got 'my server'"),
    ({"cookie": {"path": "shop"}},
     f"{PREFIX}.cookie.path: may contain only a path that starts with /, without spaces or ;, e.g. /shop/, "
     "got 'shop'"),
    ({"cookie": {"path": "/a;b"}},
     f"{PREFIX}.cookie.path: may contain only a path that starts with /, without spaces or ;, e.g. /shop/, "
     "got '/a;b'"),
    ({"cookie": {"domain": "example.com; Secure"}},
     f"{PREFIX}.cookie.domain: may contain only a domain name such as example.com (letters, digits, '.' "
     "and '-'), got 'example.com; Secure'"),
    ({"cookie": {"max_age": "0s"}}, f"{PREFIX}.cookie.max_age: must be > 0, got '0s'"),
    ({"cookie": {"mxa_age": "1h"}},
     f"{PREFIX}.cookie.mxa_age: unknown key; did you mean 'max_age'? known keys: name, secret, secret_env, "
     "max_age, path, domain, secure"),
    ({"source": {"expire": "0s"}}, f"{PREFIX}.source.expire: must be > 0, got '0s'"),
    ({"source": {"max_entries": 0}}, f"{PREFIX}.source.max_entries: must be >= 1, got 0"),
    ({"source": {"size": "1m"}},
     f"{PREFIX}.source.size: unknown key; known keys: expire, max_entries"),
])
def test_a_persistence_mistake_names_the_field_and_the_fix(persistence: dict[str, Any],
                                                           expected: str) -> None:
    assert problems({"pool": "api", "persistence": persistence}) == [f"site.yaml: {expected}"]


def test_the_persistence_and_split_cookies_need_different_names() -> None:
    assert problems({"split": [{"pool": "api", "weight": 1}], "sticky": {"cookie": "lw"},
                     "persistence": {"cookie": {"name": "lw"}}}) == [
        "site.yaml: listeners[0].routes[0]: persistence.cookie.name and sticky.cookie are both 'lw', but one "
        "names the arm and the other the server; give them different names"]


def test_a_route_laneway_answers_itself_takes_no_persistence() -> None:
    assert problems({"respond": {"status": 200, "body": "ok"}, "persistence": {"cookie": True}}) == [
        "site.yaml: listeners[0].routes[0]: a route that laneway answers itself (respond) sends no request "
        "to a server, so it takes no persistence; remove it"]


def test_a_tcp_listener_takes_no_persistence() -> None:
    assert problems({"match": {"sni": "a.example"}, "pool": "api", "persistence": {"source": True}},
                    protocol="tcp") == [
        "site.yaml: listeners[0]: routes[0].persistence applies only to protocol http; a tcp listener reads "
        "no HTTP: route by sni, or use an http listener"]
