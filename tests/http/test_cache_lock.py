"""Concurrent misses for one key: one request goes to the server, the others wait for its
answer (NGINX's proxy_cache_lock), and go on themselves when it is not stored or too slow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.http.cache_support import caching, get, request, seen
from tests.support.balancer import Balancer, wait_for
from tests.support.raw import RawConnection, Response


def waiting(running: Balancer) -> int:
    """Requests waiting for another's response to be stored."""
    store = running.runtime.caches["pages"]
    return int(running.call(lambda: sum(len(fill.waiters) for fill in store.fills.values())))


def concurrent_misses(running: Balancer, target: str, count: int = 20) -> list[Any]:
    """``count`` clients ask for ``target`` at once while the server holds the first answer;
    their responses once it lets go."""
    connections = [RawConnection(running.address) for _ in range(count)]
    try:
        for connection in connections:
            connection.send(request("GET", target).encode())
        wait_for(lambda: running.backend.holding, message="the first request at the server")
        wait_for(lambda: waiting(running) == count - 1, message="the others waiting for it")
        running.backend.release()
        return [connection.read_response() for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def five_held_at_the_server(running: Balancer) -> list[Response]:
    """Five clients ask for /?hold=1 at once; once the server holds all five, it answers."""
    connections = [RawConnection(running.address) for _ in range(5)]
    try:
        for connection in connections:
            connection.send(request("GET", "/?hold=1").encode())
        wait_for(lambda: seen(running, "/?hold=1") == 5, message="every request at the server")
        running.backend.release()
        return [connection.read_response() for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def test_concurrent_misses_for_one_key_send_one_request(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    answers = concurrent_misses(running, "/?hold=1")
    assert [(answer.status, answer.body) for answer in answers] == [(200, b"ok")] * 20
    assert sorted(answer.header("x-cache") for answer in answers) == ["HIT"] * 19 + ["MISS"]
    assert seen(running, "/?hold=1") == 1
    assert running.runtime.caches["pages"].fills == {}


def test_waiters_go_to_the_server_when_the_answer_is_not_cacheable(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer)  # no valid: a response without Cache-Control is not stored
    answers = concurrent_misses(running, "/?hold=1")
    assert [(answer.status, answer.header("x-cache")) for answer in answers] == [(200, "MISS")] * 20
    assert seen(running, "/?hold=1") == 20


def test_waiters_go_to_the_server_when_the_first_fails(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, pool={"retries": 0})
    answers = concurrent_misses(running, "/close?hold=1")
    assert [answer.status for answer in answers] == [502] * 20
    assert seen(running, "/close?hold=1") == 20


def test_the_wait_is_bounded_by_lock_timeout(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, lock_timeout="0.2s")
    # The first stays held; after 0.2 s the others go to the server themselves.
    answers = five_held_at_the_server(running)
    assert [(answer.status, answer.header("x-cache")) for answer in answers] == [(200, "MISS")] * 5


def test_a_waiting_client_that_leaves_is_forgotten(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"})
    first, second = RawConnection(running.address), RawConnection(running.address)
    with first, second:
        first.send(b"GET /?hold=1 HTTP/1.1\r\nHost: site.test\r\n\r\n")
        wait_for(lambda: running.backend.holding, message="the first request at the server")
        second.send(b"GET /?hold=1 HTTP/1.1\r\nHost: site.test\r\n\r\n")
        wait_for(lambda: waiting(running) == 1, message="the second waiting")
        second.close()
        running.backend.release()
        assert first.read_response().body == b"ok"
    assert get(running, "/?hold=1").headers["x-cache"] == "HIT"
    assert running.runtime.caches["pages"].fills == {}


def test_without_the_lock_concurrent_misses_all_go_to_the_server(balancer: Callable[..., Balancer]) -> None:
    running = caching(balancer, valid={200: "1m"}, lock=False)
    answers = five_held_at_the_server(running)
    assert [(answer.status, answer.header("x-cache")) for answer in answers] == [(200, "MISS")] * 5
    assert get(running, "/?hold=1").headers["x-cache"] == "HIT"
