"""Cache config: named stores at the top, a route's cache naming one; mistakes name the
field and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, parse_config
from laneway.config.schema import CACHEABLE_STATUSES
from laneway.policies.cache import STORABLE


def document(cache: dict[str, Any] | None, caches: dict[str, Any] | None = None) -> dict[str, Any]:
    route: dict[str, Any] = {"pool": "web"}
    if cache is not None:
        route["cache"] = cache
    found: dict[str, Any] = {"listeners": [{"name": "web", "bind": "127.0.0.1:8080", "routes": [route]}],
                             "pools": {"web": {"servers": [{"address": "127.0.0.1:9002"}]}}}
    if caches is not None:
        found["caches"] = caches
    return found


def problems(cache: dict[str, Any] | None, caches: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(cache, caches), "site.yaml")
    return caught.value.problems


def test_a_store_and_a_route_cache_parse() -> None:
    config = parse_config(document(
        {"store": "pages", "valid": {200: "10m", "301": "1h", 404: "1m", "any": "5s"},
         "key_headers": ["Accept-Language"], "lock_timeout": "2s"},
        {"pages": {"max_size": "64MiB", "max_entry_size": "1MiB"}}))
    assert config.caches["pages"].max_size == 64 * 1024 * 1024
    cache = config.listeners[0].routes[0].cache
    assert cache is not None and cache.store == "pages"
    assert cache.valid == {200: 600.0, 301: 3600.0, 404: 60.0, 0: 5.0}
    assert cache.key_headers == ["Accept-Language"] and cache.lock and cache.lock_timeout == 2.0
    assert config.listeners[0].routes[0].has_policies


def test_the_defaults() -> None:
    config = parse_config(document({"store": "pages"}, {"pages": {"max_size": "1MiB"}}))
    assert config.caches["pages"].max_entry_size == 1024 * 1024
    cache = config.listeners[0].routes[0].cache
    assert cache is not None and cache.valid == {} and cache.lock_timeout == 5.0


def test_an_unknown_store_names_the_field_and_the_stores() -> None:
    found = problems({"store": "page"}, {"pages": {"max_size": "1MiB"}, "api": {"max_size": "1MiB"}})
    assert found == ["site.yaml: listeners[0].routes[0].cache.store: no cache store is named 'page'; "
                     "defined stores: api, pages"]


def test_a_store_without_caches_says_how_to_define_it() -> None:
    found = problems({"store": "pages"})
    assert len(found) == 1
    assert "cache.store: no cache store is named 'pages'; define it at the top of the config, " \
           "e.g. caches: {pages: {max_size: 64MiB}}" in found[0]


@pytest.mark.parametrize(("cache", "caches", "expected"), [
    ({"store": "pages", "valid": {206: "1m"}}, None,
     "cache.valid[206]: 206 is not a status laneway caches; use one of 200, "),
    ({"store": "pages", "valid": {200: "soon"}}, None, "expected a duration"),
    ({"store": "pages", "key_headers": ["Accept Language"]}, None, "key_headers[0]"),
    ({"store": "pages", "lock_timeout": 0}, None, "lock_timeout"),
    ({"store": "pages", "ttl": "1m"}, None, "unknown key"),
    ({"store": "pages"}, {"pages": {"max_size": "1KiB", "max_entry_size": "1MiB"}},
     "max_entry_size (1048576 bytes) is larger than max_size (1024 bytes)"),
    ({"store": "pages"}, {"pages": {}}, "caches.pages.max_size"),
])
def test_mistakes(cache: dict[str, Any], caches: dict[str, Any] | None, expected: str) -> None:
    found = problems(cache, caches or {"pages": {"max_size": "1MiB"}})
    assert any(expected in problem for problem in found), found


def test_the_statuses_agree_with_the_store() -> None:
    assert frozenset(CACHEABLE_STATUSES) == STORABLE
