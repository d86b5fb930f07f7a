"""Responses without a body (HEAD, 204, 304), interim responses (1xx) and Expect: 100-continue.

A body where none belongs, or a missing one, shifts every later response on the connection;
so each test sends a second request on the same connection and checks it parses cleanly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection


def send(connection: RawConnection, method: str, path: str, *extra: str, body: bytes = b"",
         version: str = "1.1") -> None:
    lines = [f"{method} {path} HTTP/{version}", "Host: a", *extra]
    connection.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def assert_next_request_is_clean(connection: RawConnection) -> None:
    send(connection, "GET", "/next")
    response = connection.read_response()
    assert (response.status, response.body) == (200, b"ok"), response
    assert connection.buffer == b"", f"bytes after the response: {connection.buffer[:200]!r}"


@pytest.mark.parametrize("chunked", ["0", "1"])
def test_head_response_has_no_body(balancer: Callable[..., Balancer], chunked: str) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        send(connection, "HEAD", f"/bytes?n=5000&chunked={chunked}")
        response = connection.read_response(method="HEAD")
        assert response.status == 200
        if chunked == "0":
            assert response.header("content-length") == "5000"
        assert_next_request_is_clean(connection)
    assert running.backend.requests[0].method == "HEAD"


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_and_not_modified_have_no_body(balancer: Callable[..., Balancer], status: int) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        send(connection, "GET", f"/status?code={status}")
        response = connection.read_response()
        assert response.status == status
        assert response.header("transfer-encoding") is None
        if status == 204:
            # RFC 9110 8.6: a server MUST NOT send Content-Length in a 204.
            assert response.header("content-length") is None
        assert_next_request_is_clean(connection)


def test_204_through_httpx(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with running.client() as client:
        for _ in range(3):
            response = client.get("/status?code=204")
            assert response.status_code == 204 and response.content == b""
    assert len(running.backend.connections) == 1


@pytest.mark.parametrize("path", ["/early-hints", "/early-hints?together=1"])
def test_interim_response_is_relayed_then_the_final_one(balancer: Callable[..., Balancer], path: str) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        send(connection, "GET", path)
        response = connection.read_response()
        interim = []
        while response.status < 200:
            assert response.body == b""
            interim.append(response.status)
            response = connection.read_response()
        assert (response.status, response.body) == (200, b"ok")
        # The final head's own fields: read from where the interim head ended.
        assert (response.header("content-type"), response.header("content-length")) == ("text/plain", "2")
        assert interim in ([], [103])
        assert_next_request_is_clean(connection)


def test_no_interim_response_to_an_http10_client(balancer: Callable[..., Balancer]) -> None:
    """RFC 9110 15.2: a server MUST NOT send a 1xx response to an HTTP/1.0 client."""
    running = balancer()
    with RawConnection(running.address) as connection:
        send(connection, "GET", "/early-hints", version="1.0")
        response = connection.read_response()
    assert (response.status, response.body) == (200, b"ok")


def test_expect_100_continue(balancer: Callable[..., Balancer]) -> None:
    """The client sends the head, waits for 100 Continue, and only then the body."""
    running = balancer()
    body = b"hello world"
    with RawConnection(running.address) as connection:
        send(connection, "POST", "/echo", "Expect: 100-continue", f"Content-Length: {len(body)}")
        interim = connection.read_response(timeout=5.0)
        assert interim.status == 100
        assert running.backend.requests[0].body_size == 0
        connection.send(body)
        response = connection.read_response()
        assert (response.status, response.body) == (200, body)
        assert_next_request_is_clean(connection)
    forwarded = running.backend.requests[0]
    assert forwarded.header("expect") == "100-continue"
    assert forwarded.body == body


def test_expect_100_continue_through_a_chunked_upload(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        send(connection, "POST", "/echo", "Expect: 100-continue", "Transfer-Encoding: chunked")
        assert connection.read_response(timeout=5.0).status == 100
        connection.send(b"5\r\nhello\r\n0\r\n\r\n")
        response = connection.read_response()
    assert (response.status, response.body) == (200, b"hello")
