"""Cache stores in /metrics and /api/caches."""

from __future__ import annotations

from collections.abc import Callable

from tests.admin.conftest import Admin
from tests.admin.test_metrics import scrape


def test_hits_and_misses_per_store(admin: Callable[..., Admin]) -> None:
    running = admin(1, routes=[{"pool": "p", "cache": {"store": "pages", "valid": {200: "1m"}}}],
                    top={"caches": {"pages": {"max_size": "1MiB"}}})
    with running.running.client() as client:
        for _ in range(3):
            client.get("/page")
        client.get("/page", headers={"Cache-Control": "no-cache"})
    samples = scrape(running)
    store = (("store", "pages"),)
    assert samples[("laneway_cache_hits_total", store)] == 2
    assert samples[("laneway_cache_misses_total", store)] == 1
    assert samples[("laneway_cache_bypasses_total", store)] == 1
    assert samples[("laneway_cache_stored_total", store)] == 2  # the bypass refreshed it
    assert samples[("laneway_cache_entries", store)] == 1
    assert samples[("laneway_cache_size_bytes", store)] > 2
    [view] = running.get("/api/caches").json()
    assert (view["name"], view["hits"], view["misses"], view["entries"]) == ("pages", 2, 1, 1)
    assert view["max_size"] == 1024 * 1024


def test_a_store_is_purged_with_the_token(admin: Callable[..., Admin]) -> None:
    running = admin(1, routes=[{"pool": "p", "cache": {"store": "pages", "valid": {200: "1m"}}}],
                    top={"caches": {"pages": {"max_size": "1MiB"}}})
    with running.running.client() as client:
        client.get("/page")
        assert client.get("/page").headers["x-cache"] == "HIT"
        with running.client(None) as anonymous:
            assert anonymous.delete("/api/caches/pages/entries").status_code == 401
        assert client.get("/page").headers["x-cache"] == "HIT", "a refused purge purges nothing"
        with running.client() as api:
            missing = api.delete("/api/caches/page/entries")
            purged = api.delete("/api/caches/pages/entries")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no cache store is named 'page'; stores: pages", "field": "name"}
        assert purged.status_code == 200 and purged.json()["entries"] == 0 and purged.json()["size"] == 0
        assert client.get("/page").headers["x-cache"] == "MISS"
