"""Response caching end to end: a running laneway in front of a real backend that counts
the requests it really gets. What is stored, for how long, under which key, in what bound."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.cache_support import caching, get, request, seen, with_headers
from tests.support.balancer import Balancer, wait_for
from tests.support.payload import blocks
from tests.support.raw import RawConnection


def test_the_second_request_is_a_hit_and_the_server_sees_one(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60", "X-Kept:yes")
    first, second = get(running, target), get(running, target)
    assert (first.status_code, first.text, first.headers["x-cache"]) == (200, "ok", "MISS")
    assert (second.status_code, second.text, second.headers["x-cache"]) == (200, "ok", "HIT")
    assert second.headers["x-kept"] == "yes" and second.headers["content-length"] == "2"
    assert int(second.headers["age"]) >= 0
    assert seen(running, target) == 1
    assert running.runtime.caches["pages"].hits == 1 and running.runtime.caches["pages"].misses == 1


def test_head_is_answered_from_a_gets_entry_without_a_body(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    get(running, target)
    with RawConnection(running.address) as connection:
        connection.send((request("HEAD", target) + request("GET", target)).encode())
        head = connection.read_response(method="HEAD")
        after = connection.read_response()
    assert head.header("x-cache") == "HIT" and head.header("content-length") == "2" and head.body == b""
    assert after.header("x-cache") == "HIT" and after.body == b"ok"  # the connection stayed in step
    assert seen(running, target) == 1


def test_the_servers_age_counts(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=600", "Age:100")
    get(running, target)
    hit = get(running, target)
    assert hit.headers["x-cache"] == "HIT" and 100 <= int(hit.headers["age"]) < 110
    assert hit.headers.get_list("age") == [hit.headers["age"]]  # the server's own is not repeated


def test_an_entry_expires_with_its_max_age(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=1")
    assert get(running, target).headers["x-cache"] == "MISS"
    assert get(running, target).headers["x-cache"] == "HIT"
    wait_for(lambda: get(running, target).headers["x-cache"] == "MISS", timeout=5.0, interval=0.1,
             message="a miss once max-age=1 has passed")
    assert seen(running, target) == 2


def test_valid_gives_a_lifetime_when_the_server_gives_none(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={404: "1m"})
    for _ in range(3):
        assert get(running, "/status?code=404").status_code == 404
    assert seen(running, "/status?code=404") == 1
    for _ in range(2):
        get(running, "/status?code=200")  # no freshness and no default for 200
    assert seen(running, "/status?code=200") == 2


@pytest.mark.parametrize(("fields", "headers"), [
    (["Cache-Control:no-store,max-age=60"], {}),
    (["Cache-Control:private,max-age=60"], {}),
    (["Cache-Control:no-cache,max-age=60"], {}),
    (["Cache-Control:max-age=60", "Set-Cookie:sid=1"], {}),
    (["Cache-Control:max-age=60", "Vary:*"], {}),
    (["Cache-Control:max-age=60"], {"Authorization": "Bearer x"}),
])
def test_not_cached(balancer: Callable[..., Balancer], fields: list[str], headers: dict[str, str]) -> None:
    running = caching(balancer, valid={200: "1m"})
    target = with_headers(*fields)
    for _ in range(2):
        response = get(running, target, **headers)
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    assert seen(running, target) == 2


def test_vary_keeps_an_entry_per_value(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60", "Vary:Accept-Language")
    assert get(running, target, **{"Accept-Language": "en"}).headers["x-cache"] == "MISS"
    assert get(running, target, **{"Accept-Language": "de"}).headers["x-cache"] == "MISS"
    assert get(running, target, **{"Accept-Language": "en"}).headers["x-cache"] == "HIT"
    assert get(running, target, **{"Accept-Language": "de"}).headers["x-cache"] == "HIT"
    assert seen(running, target) == 2


def test_key_headers_split_entries(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, key_headers=["X-Tenant"])
    target = with_headers("Cache-Control:max-age=60")
    for tenant in ("a", "b", "a", "b"):
        get(running, target, **{"X-Tenant": tenant})
    get(running, target)
    assert seen(running, target) == 3


def test_the_query_is_part_of_the_key(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    base = with_headers("Cache-Control:max-age=60")
    one, two = base + "&v=1", base + "&v=2"
    for target in (one, two, one, two):
        get(running, target)
    assert seen(running, one) == 1 and seen(running, two) == 1


def test_routes_without_a_cache_are_untouched(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, routes=[{"match": {"path_prefix": "/cached"}, "pool": "p",
                                   "cache": {"store": "pages", "valid": {200: "1m"}}},
                                  {"pool": "p"}], top={"caches": {"pages": {"max_size": "1MiB"}}})
    for _ in range(2):
        assert "x-cache" not in get(running, "/plain").headers
    assert seen(running, "/plain") == 2
    for _ in range(2):
        get(running, "/cached")
    assert seen(running, "/cached") == 1


def test_a_large_body_is_served_but_not_stored(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, store={"max_size": "64KiB", "max_entry_size": "8KiB"})
    for _ in range(2):
        response = get(running, "/bytes?n=20000")
        assert response.content == b"".join(blocks(20000))
    assert seen(running, "/bytes?n=20000") == 2
    assert len(running.runtime.caches["pages"]) == 0


def test_a_chunked_body_is_stored_and_served_with_a_length(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    first = get(running, "/bytes?n=5000&chunked=1")
    hit = get(running, "/bytes?n=5000&chunked=1")
    assert first.content == hit.content == b"".join(blocks(5000))
    assert hit.headers["x-cache"] == "HIT" and hit.headers["content-length"] == "5000"
    assert "transfer-encoding" not in hit.headers


def test_the_byte_bound_evicts_the_least_recently_used(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, store={"max_size": "8KiB", "max_entry_size": "4KiB"})
    store = running.runtime.caches["pages"]
    targets = [f"/bytes?n=2000&i={index}" for index in range(4)]
    for target in targets[:3]:
        get(running, target)
    assert get(running, targets[0]).headers["x-cache"] == "HIT"  # now the most recently used
    get(running, targets[3])  # 4 entries of ~2.5 KiB do not fit in 8 KiB: one goes
    assert store.evicted == 1 and store.size <= 8 * 1024
    assert get(running, targets[1]).headers["x-cache"] == "MISS"
    assert get(running, targets[0]).headers["x-cache"] == "HIT"


def test_a_body_ended_by_the_close_is_not_stored(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    for _ in range(2):
        assert len(get(running, "/until-close?n=3000").content) == 3000
    assert seen(running, "/until-close?n=3000") == 2


def test_a_body_cut_short_is_never_stored(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, pool={"timeouts": {"response": "0.3s"}})
    for _ in range(2):
        with pytest.raises(httpx.HTTPError):
            get(running, "/stall-body?n=100")
    assert seen(running, "/stall-body?n=100") == 2
    assert len(running.runtime.caches["pages"]) == 0


def test_a_hit_keeps_its_place_among_pipelined_requests(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    cached = with_headers("Cache-Control:max-age=60")
    get(running, cached)
    with RawConnection(running.address) as connection:
        connection.send((request("GET", "/delay?s=0.2") + request("GET", cached)
                         + request("GET", "/bytes?n=10")).encode())
        answers = [connection.read_response() for _ in range(3)]
    assert [answer.header("x-cache") for answer in answers] == ["MISS", "HIT", "MISS"]
    assert [answer.body for answer in answers] == [b"ok", b"ok", b"".join(blocks(10))]


def test_a_reload_keeps_a_store_whose_settings_did_not_change(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    get(running, target)
    running.loop.run(running.runtime.reload(running.runtime.config))
    assert get(running, target).headers["x-cache"] == "HIT"
    changed = running.runtime.config.model_copy(
        update={"caches": {"pages": running.runtime.config.caches["pages"].model_copy(
            update={"max_size": 2 * 1024 * 1024})}})
    running.loop.run(running.runtime.reload(changed))
    assert get(running, target).headers["x-cache"] == "MISS"  # a new store, empty
    assert seen(running, target) == 2


def test_the_arms_of_a_split_never_answer_for_each_other(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pools_of_backends={"p": [0], "q": [1]},
                       routes=[{"split": [{"pool": "p", "weight": 1}, {"pool": "q", "weight": 1}],
                                "cache": {"store": "pages", "valid": {200: "1m"}}}],
                       top={"caches": {"pages": {"max_size": "1MiB"}}})
    # 40 requests: both arms are chosen (all on one arm: a chance of 2 in 2**40).
    backends = {get(running, "/page").headers["x-backend"] for _ in range(40)}
    assert backends == {"backend0", "backend1"}
    assert [sum(1 for r in backend.requests if r.target == "/page") for backend in running.backends] == [1, 1]


def test_an_http10_client_gets_a_hit_with_a_length(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    get(running, target)
    with RawConnection(running.address) as connection:
        connection.send(f"GET {target} HTTP/1.0\r\nHost: site.test\r\nConnection: keep-alive\r\n\r\n"
                        f"GET {target} HTTP/1.0\r\nHost: site.test\r\n\r\n".encode())
        kept, last = connection.read_response(), connection.read_response()
        closed = connection.wait_closed()
    assert (kept.header("x-cache"), kept.header("connection"), kept.body) == ("HIT", "keep-alive", b"ok")
    assert (last.header("x-cache"), last.header("connection"), last.body) == ("HIT", "close", b"ok")
    assert closed == b""


def test_expires_sets_the_lifetime(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    fresh = with_headers("Date:Tue, 14 Nov 2023 22:13:20 GMT", "Expires:Tue, 14 Nov 2023 22:23:20 GMT")
    stale = with_headers("Date:Tue, 14 Nov 2023 22:13:20 GMT", "Expires:Tue, 14 Nov 2023 22:13:20 GMT")
    for target in (fresh, fresh, stale, stale):
        get(running, target)
    assert seen(running, fresh) == 1 and seen(running, stale) == 2


def test_the_access_log_says_hit_or_miss(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, routes=[{"match": {"path_prefix": "/cached"}, "pool": "p",
                                   "cache": {"store": "pages", "valid": {200: "1m"}}}, {"pool": "p"}],
                       top={"caches": {"pages": {"max_size": "1MiB"}}}, access_log={"path": str(log)})
    for target in ("/cached", "/cached", "/plain"):
        get(running, target)
    get(running, "/cached", **{"Cache-Control": "no-cache"})
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 4, message="4 access log lines")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(entry["target"], entry["cache"]) for entry in entries] == [
        ("/cached", "MISS"), ("/cached", "HIT"), ("/plain", None), ("/cached", "BYPASS")]
    assert entries[1]["server"] is None and entries[1]["status"] == 200


def test_hits_are_compressed_like_answers_from_servers(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, routes=[{"pool": "p", "compression": {"types": ["application/octet-stream"]},
                                   "cache": {"store": "pages", "valid": {200: "1m"}}}],
                       top={"caches": {"pages": {"max_size": "1MiB"}}})
    body = b"".join(blocks(50_000))
    miss = get(running, "/bytes?n=50000", **{"Accept-Encoding": "gzip"})
    hit = get(running, "/bytes?n=50000", **{"Accept-Encoding": "gzip"})
    plain = get(running, "/bytes?n=50000", **{"Accept-Encoding": "identity"})
    assert [answer.headers["x-cache"] for answer in (miss, hit, plain)] == ["MISS", "HIT", "HIT"]
    assert miss.headers["content-encoding"] == hit.headers["content-encoding"] == "gzip"
    assert hit.headers["vary"] == "Accept-Encoding" and int(hit.headers["content-length"]) > 0
    assert miss.content == hit.content == plain.content == body  # httpx decompresses
    assert "content-encoding" not in plain.headers
    assert seen(running, "/bytes?n=50000") == 1


@pytest.mark.parametrize("persistence", [{"source": {"expire": "30m"}}, {"cookie": {}}])
def test_a_route_with_persistence_caches_too(balancer: Callable[..., Balancer],
                                             persistence: dict[str, Any]) -> None:
    running = balancer(1, routes=[{"pool": "p", "persistence": persistence,
                                   "cache": {"store": "pages", "valid": {200: "1m"}}}],
                       top={"caches": {"pages": {"max_size": "1MiB"}}})
    miss, hit = get(running, "/page"), get(running, "/page")
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert seen(running, "/page") == 1


def test_a_heads_answer_fills_nothing(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)
    target = with_headers("Cache-Control:max-age=60")
    with running.client() as client:
        head = client.head(target, headers={"Host": "site.test"})
    assert (head.status_code, head.headers["x-cache"], head.content) == (200, "MISS", b"")
    assert [get(running, target).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert seen(running, target) == 2


def test_a_target_in_absolute_form_shares_the_entry_of_its_path(balancer: Callable[..., Balancer]) -> None:
    """RFC 9112 3.2.2: GET http://site.test/page names what GET /page with Host: site.test does."""
    running = caching(balancer, valid={200: "1m"})
    assert get(running, "/page").headers["x-cache"] == "MISS"
    with RawConnection(running.address) as connection:
        connection.send(b"GET http://site.test/page HTTP/1.1\r\nHost: other.test\r\n\r\n")
        assert connection.read_response().header("x-cache") == "HIT"
    assert seen(running, "/page") == 1
