"""Routes that laneway answers itself (NGINX's ``return``): a fixed response, a redirect, and
the 404 and 429 laneway gives. No server is asked, and the connection stays open: the answer
takes its turn among pipelined requests like any other response."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.http.test_access_log import lines
from tests.support.assertions import assert_nothing_reached_backends
from tests.support.balancer import Balancer
from tests.support.raw import RawConnection

HEALTHY = {"match": {"path": "/healthz"},
           "respond": {"status": 200, "body": "healthy\n", "headers": {"Cache-Control": "no-store"}}}
MOVED = {"match": {"host": "old.example"},
         "redirect": {"location": "https://new.example$request_uri", "status": 301}}
TO_HTTPS = {"match": {"path_prefix": "/secure/"}, "redirect": {"location": "https://$host$path?from=$scheme"}}


def answering(balancer: Callable[..., Balancer], *extra: dict[str, Any]) -> Balancer:
    return balancer(1, routes=[HEALTHY, MOVED, TO_HTTPS, *extra, {"pool": "p"}])


def test_a_fixed_response_is_answered_without_a_server(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    response = running.get("/healthz")
    assert response.status_code == 200
    assert response.text == "healthy\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    head = running.client().head("/healthz")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len("healthy\n"))
    assert_nothing_reached_backends(running)


def test_redirects_fill_in_the_request(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    moved = running.get("/a/b?c=1", headers={"Host": "old.example"})
    assert moved.status_code == 301
    assert moved.headers["location"] == "https://new.example/a/b?c=1"
    secure = running.get("/secure/page?x=1", headers={"Host": "Shop.Example:8080"})
    assert secure.status_code == 302
    assert secure.headers["location"] == "https://shop.example/secure/page?from=http"
    assert_nothing_reached_backends(running)


def test_a_host_that_is_not_one_is_refused_not_copied(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"GET /secure/x HTTP/1.1\r\nHost: evil.example/path\r\n\r\n")
        response = connection.read_response()
        assert response.status == 400
        assert response.header("location") is None


def test_answers_keep_the_connection_and_the_order_of_pipelined_requests(
        balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"GET /two HTTP/1.1\r\nHost: old.example\r\n\r\n"
                        b"GET /three HTTP/1.1\r\nHost: a\r\n\r\n")
        responses = [connection.read_response() for _ in range(4)]
    assert [r.status for r in responses] == [200, 200, 301, 200]
    assert responses[1].body == b"healthy\n"
    assert [r.path for r in running.backend.requests] == ["/one", "/three"]


def test_a_long_pipeline_of_answers_is_served_in_full(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    count = 2000  # more than the interpreter's recursion limit: answers must not recurse
    with RawConnection(running.address, timeout=20) as connection:
        connection.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" * count)
        bodies = [connection.read_response().body for _ in range(count)]
    assert bodies == [b"healthy\n"] * count


def test_a_request_body_is_read_and_dropped_before_the_answer(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234")
        assert connection.is_open_after(0.2)
        connection.send(b"56789")
        assert connection.read_response().status == 200
        connection.send(b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert connection.read_response().status == 200
        assert connection.read_response().status == 200
    assert [r.path for r in running.backend.requests] == ["/after"]


def test_a_client_waiting_for_100_continue_is_answered_at_once_and_closed(
        balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                        b"Expect: 100-continue\r\n\r\n")
        response = connection.read_response()
        assert response.status == 200
        assert "close" in response.connection_tokens
        assert connection.wait_closed() == b""
    assert_nothing_reached_backends(running)


def test_an_http10_client_is_told_the_connection_is_kept(balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert "keep-alive" in connection.read_response().connection_tokens
        connection.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert "close" in connection.read_response().connection_tokens
        assert connection.wait_closed() == b""


def test_a_rate_limited_request_gets_429_on_a_connection_that_stays_open(
        balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer, {"match": {"path_prefix": "/api/"}, "pool": "p",
                                   "rate_limit": {"rate": "1r/m", "nodelay": True}})
    with RawConnection(running.address) as connection:
        connection.send(b"GET /api/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
        statuses = [connection.read_response() for _ in range(3)]
    assert [r.status for r in statuses] == [200, 429, 200]
    assert 1 <= int(statuses[1].header("retry-after") or 0) <= 60
    assert [r.path for r in running.backend.requests] == ["/api/1", "/other"]


def test_answers_are_in_the_access_log(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, routes=[HEALTHY, {"pool": "p"}], access_log={"path": str(log)})
    assert running.get("/healthz").status_code == 200
    assert running.get("/x").status_code == 200
    answered, proxied = lines(log, 2)
    assert (answered["target"], answered["status"], answered["pool"], answered["server"]) == (
        "/healthz", 200, None, None)
    assert answered["bytes"] > len("healthy\n")
    assert proxied["pool"] == "p"


def test_a_request_in_absolute_form_is_redirected_by_its_path(balancer: Callable[..., Balancer]) -> None:
    """RFC 9112 3.2.2: the target's authority is the host, and $request_uri its path and query."""
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"GET http://old.example/a/b?c=1 HTTP/1.1\r\nHost: elsewhere\r\n\r\n")
        moved = connection.read_response()
        connection.send(b"GET http://Shop.Example:8080/secure/x?y=2 HTTP/1.1\r\nHost: elsewhere\r\n\r\n")
        secure = connection.read_response()
    assert (moved.status, moved.header("location")) == (301, "https://new.example/a/b?c=1")
    assert (secure.status, secure.header("location")) == (302, "https://shop.example/secure/x?from=http")


def test_the_host_of_an_absolute_form_target_is_checked_before_a_redirect(
        balancer: Callable[..., Balancer]) -> None:
    running = answering(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"GET http://evil.example%2fx/secure/x HTTP/1.1\r\nHost: fine.example\r\n\r\n")
        response = connection.read_response()
    assert response.status == 400 and response.header("location") is None
