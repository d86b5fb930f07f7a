"""What a request says to the cache: fresh answers asked for, unsafe methods, preconditions,
ranges, credentials."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.http.cache_support import caching, get, seen, with_headers
from tests.support.balancer import Balancer


def test_an_authorized_request_is_cached_when_the_response_is_public(
        balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:public,max-age=60")
    get(running, target, Authorization="Bearer x")
    assert get(running, target).headers["x-cache"] == "HIT"
    assert seen(running, target) == 1


def test_a_client_asking_for_a_fresh_answer_bypasses_the_lookup(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    get(running, target)
    fresh = get(running, target, **{"Cache-Control": "no-cache"})
    assert fresh.headers["x-cache"] == "BYPASS"
    assert get(running, target, Pragma="no-cache").headers["x-cache"] == "BYPASS"
    assert get(running, target, **{"Cache-Control": "no-store"}).headers["x-cache"] == "BYPASS"
    assert get(running, target).headers["x-cache"] == "HIT"
    assert seen(running, target) == 4
    assert running.runtime.caches["pages"].bypasses == 3


def test_no_store_from_the_client_stores_nothing(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    get(running, target, **{"Cache-Control": "no-store"})
    assert get(running, target).headers["x-cache"] == "MISS"


def test_only_get_and_head_are_cached(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    with running.client() as client:
        for _ in range(2):
            response = client.post("/echo", content=b"data")
            assert response.text == "data" and "x-cache" not in response.headers
    assert seen(running, "/echo") == 2


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_an_unsafe_request_that_succeeds_drops_the_entry(balancer: Callable[..., Balancer],
                                                          method: str) -> None:
    running = caching(balancer, valid={200: "1m", 404: "1m"}, key_headers=["X-Tenant"])
    for tenant in ("a", "b"):
        get(running, "/status?code=200", **{"X-Tenant": tenant})
    get(running, "/status?code=404")
    with running.client() as client:
        changed = client.request(method, "/status?code=200", content=b"new", headers={"Host": "site.test"})
        failed = client.request(method, "/status?code=404", content=b"new", headers={"Host": "site.test"})
    assert (changed.status_code, failed.status_code) == (200, 404)
    assert "x-cache" not in changed.headers
    # Every entry of the changed target is gone, whatever its key headers; an error changes nothing.
    assert get(running, "/status?code=200", **{"X-Tenant": "a"}).headers["x-cache"] == "MISS"
    assert get(running, "/status?code=200", **{"X-Tenant": "b"}).headers["x-cache"] == "MISS"
    assert get(running, "/status?code=404").headers["x-cache"] == "HIT"


def test_preconditions_are_answered_from_the_store(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60", 'ETag:"v1"')
    first = get(running, target, **{"If-None-Match": '"v1"'})
    # The server never sees the precondition, so its answer is whole and is stored.
    assert (first.status_code, first.text, first.headers["x-cache"]) == (200, "ok", "MISS")
    [request] = [r for r in running.backend.requests if r.target == target]
    assert request.header("if-none-match") is None
    not_modified = get(running, target, **{"If-None-Match": '"v1"'})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == '"v1"' and not_modified.headers["x-cache"] == "HIT"
    changed = get(running, target, **{"If-None-Match": '"v0"'})
    assert (changed.status_code, changed.text) == (200, "ok")
    assert get(running, target, **{"If-Match": '"v0"'}).status_code == 412
    assert seen(running, target) == 1


def test_a_range_request_goes_to_the_server(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    get(running, "/bytes?n=100")
    ranged = get(running, "/bytes?n=100", Range="bytes=0-9")
    assert ranged.headers["x-cache"] == "BYPASS"
    assert [r.header("range") for r in running.backend.requests if r.target == "/bytes?n=100"] == [
        None, "bytes=0-9"]
