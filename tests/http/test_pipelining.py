"""Pipelined requests (several sent before any answer) are answered in order, one by one;
a malformed one among them is refused and nothing after it reaches a server."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection, parse_responses, raw_request


def get(path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: a", *extra]) + "\r\n\r\n").encode()


def post(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("backends", [1, 3])
def test_three_requests_in_one_write_are_answered_in_order(
        balancer: Callable[..., Balancer], backends: int) -> None:
    running = balancer(backends=backends)
    with RawConnection(running.address) as connection:
        # The first is the slowest: an answer must not overtake the one before it.
        connection.send(get("/delay?s=0.3") + get("/status?code=201") + get("/status?code=202"))
        statuses = [connection.read_response().status for _ in range(3)]
    assert statuses == [200, 201, 202]


def test_pipelined_bodies_are_kept_apart(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    bodies = [b"first", b"", b"third" * 1000]
    with RawConnection(running.address) as connection:
        connection.send(b"".join(post("/echo", body) for body in bodies))
        echoed = [connection.read_response().body for _ in bodies]
    assert echoed == bodies
    assert [bytes(r.body) for r in running.backend.requests] == bodies


def test_pipelined_head_in_the_middle(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    head = b"HEAD /bytes?n=100 HTTP/1.1\r\nHost: a\r\n\r\n"
    with RawConnection(running.address) as connection:
        connection.send(get("/") + head + get("/status?code=202"))
        first = connection.read_response()
        second = connection.read_response(method="HEAD")
        third = connection.read_response()
    answers = [(r.status, r.body) for r in (first, second, third)]
    assert answers == [(200, b"ok"), (200, b""), (202, b"status 202")]


def test_twenty_pipelined_requests(balancer: Callable[..., Balancer]) -> None:
    running = balancer(backends=2)
    with RawConnection(running.address) as connection:
        connection.send(b"".join(get(f"/response-headers?h=X-N:{index}") for index in range(20)))
        numbers = [connection.read_response().header("x-n") for _ in range(20)]
    assert numbers == [str(index) for index in range(20)]


def test_malformed_request_in_a_pipeline_stops_it(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    smuggling = (b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\n")
    reply = raw_request(running.address, get("/one") + smuggling + get("/three"))
    responses = parse_responses(reply.data, closed=reply.closed)
    assert [r.status for r in responses] == [200, 400]
    assert "close" in responses[1].connection_tokens
    assert reply.closed
    assert [r.path for r in running.backend.requests] == ["/one"]


def test_connection_close_in_a_pipeline_ends_it(balancer: Callable[..., Balancer]) -> None:
    """RFC 9112 9.6: the request with "close" is answered, then the connection closes, and
    the server MUST NOT process any further requests received on it (no 400 for them)."""
    running = balancer()
    reply = raw_request(running.address, get("/one") + get("/two", "Connection: close") + get("/three"))
    responses = parse_responses(reply.data, closed=reply.closed)
    assert [r.status for r in responses] == [200, 200]
    assert "close" in responses[1].connection_tokens
    assert reply.closed
    assert [r.path for r in running.backend.requests] == ["/one", "/two"]


def test_pipelined_requests_then_half_close_are_all_answered(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(get("/one") + get("/delay?s=0.2") + get("/three"))
        connection.sock.shutdown(socket.SHUT_WR)
        data = connection.wait_closed(timeout=5.0)
    responses = parse_responses(data)
    assert [r.status for r in responses] == [200, 200, 200]
    assert [r.path for r in running.backend.requests] == ["/one", "/delay", "/three"]


def test_error_response_in_a_pipeline_keeps_its_place(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    reply = raw_request(running.address, get("/one") + get("/reset") + get("/three", "Connection: close"))
    responses = parse_responses(reply.data, closed=reply.closed)
    statuses = [r.status for r in responses]
    assert statuses[:2] == [200, 502]
    # After a 502 the proxy may close or go on; if it goes on, the third comes last.
    assert statuses[2:] in ([], [200])
    if statuses[2:] == []:
        assert "close" in responses[1].connection_tokens
    assert reply.closed


def test_bytes_after_connection_close_never_hang_the_request(balancer: Callable[..., Balancer]) -> None:
    """A request with "close" followed by more bytes in the same write: answered and closed,
    every time, whether the server connection is fresh or taken from the pool."""
    running = balancer()
    for attempt in range(4):
        reply = raw_request(running.address, get(f"/close-{attempt}", "Connection: close") + get("/extra"))
        assert reply.closed, f"attempt {attempt}: still open after 5s, got {reply.data[:100]!r}"
        assert reply.response.status == 200
        assert reply.response.body == b"ok"


def test_every_whole_request_before_a_malformed_one_is_answered_first(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(get("/1") + get("/2") + b"GARBAGE\r\n\r\n")
        responses = [connection.read_response() for _ in range(3)]
        connection.wait_closed()
    assert [r.status for r in responses] == [200, 200, 400]
    assert "close" in responses[2].connection_tokens
    assert [r.target for r in running.backend.requests] == ["/1", "/2"]


def test_a_malformed_request_after_a_body_does_not_stall_a_reused_server_connection(
        balancer: Callable[..., Balancer]) -> None:
    """The request before the bad bytes goes out at once on the pooled connection, exactly
    once: it once waited for the server to drop the idle connection, and was then sent again
    behind a second copy of its head (a request built from its body would have followed)."""
    running = balancer()
    assert running.get("/warm").status_code == 200  # leaves a pooled connection to the server
    body = b"A" * 100 + b"GET /smuggled HTTP/1.1\r\nHost: admin.example.com\r\nX-Pad: p\r\n\r\n"
    with RawConnection(running.address, timeout=3.0) as connection:
        connection.send(post("/echo", body) + b"\x01\r\n\r\n")
        first, second = connection.read_response(), connection.read_response()
        connection.wait_closed()
    assert (first.status, first.body, second.status) == (200, body, 400)
    assert [r.target for r in running.backend.requests] == ["/warm", "/echo"]
    assert len(running.backend.connections) == 1
    assert bytes(running.backend.connections[0].raw).count(b"POST /echo") == 1


def test_a_queued_request_cut_short_by_a_bad_chunk_never_reaches_a_server(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    broken = b"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    with RawConnection(running.address) as connection:
        connection.send(get("/delay?s=0.2") + broken)
        statuses = [connection.read_response().status for _ in range(2)]
        connection.wait_closed()
    assert statuses == [200, 400]
    assert [r.target for r in running.backend.requests] == ["/delay?s=0.2"]


def test_a_head_that_follows_a_body_in_one_read_is_measured_from_its_own_start(
        balancer: Callable[..., Balancer]) -> None:
    """The head size limit counts the head's own bytes, not the body before it in the read."""
    running = balancer(listener={"limits": {"max_request_line": "1KiB", "max_header_size": "1KiB"}})
    with RawConnection(running.address) as connection:
        connection.send(post("/echo", b"x" * 4000) + b"GET /2 HTTP/1.1\r\nHost: a\r\n")
        first = connection.read_response()
        connection.send(b"\r\n")
        second = connection.read_response()
    assert (first.status, len(first.body), second.status) == (200, 4000, 200)
