"""Timeouts and faults: each is answered with a clear status and a short body saying which
(408 for a client too slow, 502 when no connection can be made or the server fails, 503 when
no server may take traffic, 504 when the server does not answer in time), and the listener
keeps serving afterwards."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from laneway.http.deadlines import DeadlineSweeper
from laneway.http.upstream import UpstreamConnection
from laneway.upstream import Server
from tests.support.assertions import assert_nothing_reached_backends, assert_rejected
from tests.support.balancer import Balancer, wait_for
from tests.support.faults import BlackHole, DeafServer, closed_port
from tests.support.raw import (
    RawConnection,
    RawReply,
    connect,
    parse_responses,
    raw_request,
    read_until_closed,
)

SHORT = "0.5s"


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    """``status`` with a short plain-text body that names it and says which fault it was."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text.lower()
    assert 0 < len(response.content) < 1024, response.content
    assert str(status) in text, text
    assert any(word in text for word in words), f"none of {words} in {text!r}"


def dead_pool_routes(address: str) -> dict[str, object]:
    """``/dead/...`` goes to a pool whose one server is at ``address``; the rest to ``p``."""
    return {"routes": [{"match": {"path_prefix": "/dead/"}, "pool": "dead"}, {"pool": "p"}],
            "pools": {"dead": {"servers": [{"address": address}], "timeouts": {"connect": SHORT}}}}


# ------------------------------------------------------------------ client too slow: 408


def test_slowloris_is_cut_off_with_408(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"header": SHORT}})
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    sent = 0
    with connect(running.address) as sock:
        started = time.monotonic()
        for index in range(len(head)):  # one byte per 50 ms: the whole head would take 11 s
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                break
            try:
                sock.sendall(head[index:index + 1])
            except OSError:
                break
            sent += 1
        answered = time.monotonic() - started
        received = bytearray()
        closed, _ = read_until_closed(sock, received, 5.0)
    assert_rejected(RawReply(bytes(received), closed=closed), 408)
    assert sent < len(head), "the whole head went through: no header timeout"
    assert 0.4 <= answered < 2.5, f"answered after {answered:.2f}s with a 0.5s header timeout"
    assert_nothing_reached_backends(running)


def test_silent_connection_is_closed_after_the_header_timeout(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"header": SHORT}})
    started = time.monotonic()
    reply = raw_request(running.address, b"", timeout=5.0)
    waited = time.monotonic() - started
    assert reply.closed
    assert 0.4 <= waited < 2.5, waited
    if reply.data:
        assert parse_responses(reply.data)[0].status == 408
    assert_nothing_reached_backends(running)


def test_header_timeout_does_not_limit_a_slow_server(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"header": SHORT}})
    assert running.get("/delay?s=1").status_code == 200


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_stalled_request_body_gets_408(balancer: Callable[..., Balancer], framing: str) -> None:
    running = balancer(listener={"timeouts": {"body": SHORT}})
    if framing == "content-length":
        data = b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello"
    else:
        data = b"POST /digest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    started = time.monotonic()
    reply = raw_request(running.address, data, timeout=5.0)
    waited = time.monotonic() - started
    assert_rejected(reply, 408)
    assert 0.4 <= waited < 2.5, waited
    backend = running.backend
    wait_for(lambda: all(c.closed for c in backend.connections), message="the server connection dropped")
    assert not any(request.complete for request in backend.requests)
    running.probe()


def test_slow_but_steady_request_body_is_served(balancer: Callable[..., Balancer]) -> None:
    """The body timeout bounds each pause, not the whole body: six pauses of 0.2 s pass."""
    running = balancer(listener={"timeouts": {"body": SHORT}})
    with RawConnection(running.address) as connection:
        connection.send(b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n")
        for _ in range(6):
            assert connection.is_open_after(0.2)  # the pause itself, and nothing came back
            connection.send(b"x")
        response = connection.read_response()
    assert response.status == 200
    assert b'"size": 6' in response.body


# ------------------------------------------------------------------ server faults: 502


def test_connection_refused_gets_502(balancer: Callable[..., Balancer]) -> None:
    running = balancer(**dead_pool_routes(f"127.0.0.1:{closed_port()}"))
    with running.client() as client:
        response = client.get("/dead/x")
        assert_error(response, 502, "connect", "refused")
        assert client.get("/alive").status_code == 200
    assert [r.path for r in running.backend.requests] == ["/alive"]


def test_connect_timeout_gets_502(balancer: Callable[..., Balancer]) -> None:
    with BlackHole() as hole:
        running = balancer(**dead_pool_routes(hole.address))
        started = time.monotonic()
        response = running.get("/dead/x")
        waited = time.monotonic() - started
        assert_error(response, 502, "connect", "timed out", "timeout")
        assert 0.4 <= waited < 3.0, waited
        running.probe()


@pytest.mark.parametrize(("path", "words"), [("/reset", ("reset", "closed")),
                                             ("/close", ("closed", "without answering"))])
def test_server_failing_before_answering_gets_502(
        balancer: Callable[..., Balancer], path: str, words: tuple[str, ...]) -> None:
    running = balancer()
    response = running.get(path)
    assert_error(response, 502, *words)
    running.probe()


def test_keep_alive_client_survives_a_502(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"GET /reset HTTP/1.1\r\nHost: a\r\n\r\n")
        first = connection.read_response()
        assert first.status == 502
        if "close" in first.connection_tokens:
            connection.wait_closed()
            return
        connection.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert connection.read_response().status == 200


def test_server_dying_mid_response_closes_the_client(balancer: Callable[..., Balancer]) -> None:
    """Once the head went out a 502 can no longer be sent: the client must see a truncated
    body end in a close, never a hang, and never a response it could take as whole."""
    running = balancer(pool={"timeouts": {"response": SHORT}})
    with RawConnection(running.address) as connection:
        connection.send(b"GET /stall-body?n=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        data = connection.wait_closed(timeout=5.0)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length: 2000" in head.lower()
    assert body == b"x" * 1000
    running.probe()


# ------------------------------------------------------------------ too slow: 504


def test_server_not_answering_in_time_gets_504(balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"timeouts": {"response": SHORT}})
    started = time.monotonic()
    response = running.get("/delay?s=5")
    waited = time.monotonic() - started
    assert_error(response, 504, "time", "answer")
    assert 0.4 <= waited < 2.5, waited
    running.probe()
    # The late answer must not be taken for the probe's: that connection is given up.
    backend = running.backend
    wait_for(lambda: backend.connections[0].closed, message="the timed-out server connection closed")
    assert [c.requests[0].path for c in backend.connections] == ["/delay", "/__probe__"]


def test_server_answering_within_the_response_timeout_is_served(balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"timeouts": {"response": "2s"}})
    assert running.get("/delay?s=0.3").status_code == 200


# ------------------------------------------------------------------ no server: 503


def test_pool_without_available_server_gets_503(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    pool = running.runtime.pools["p"]
    server = pool.servers[0]
    running.call(pool.set_up, server, False)
    response = running.get("/")
    assert_error(response, 503, "no server", "unavailable", "available")
    assert running.backend.raw_size == 0
    running.call(pool.set_up, server, True)
    assert running.get("/").status_code == 200


# ------------------------------------------------------------------ statuses pass through


@pytest.mark.parametrize("status", [400, 404, 500, 502, 503])
def test_server_error_statuses_pass_through_unchanged(balancer: Callable[..., Balancer], status: int) -> None:
    running = balancer()
    response = running.get(f"/status?code={status}")
    assert response.status_code == status
    assert response.text == f"status {status}"
    assert response.headers["x-backend"] == "backend0"



def test_a_server_that_takes_none_of_the_body_gets_504(balancer: Callable[..., Balancer]) -> None:
    """A server that stops reading the request is timed out like one that does not answer
    (NGINX's proxy_send_timeout); the client's connection is not held for ever."""
    with DeafServer() as deaf:
        running = balancer(servers=[deaf.address], pool={"timeouts": {"response": SHORT}})
        with RawConnection(running.address) as connection:
            connection.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n")
            connection.sock.settimeout(0.2)
            sent = 0
            with pytest.raises(TimeoutError):  # the send stops: laneway stopped reading
                while sent < 1 << 30:
                    sent += connection.sock.send(b"x" * 65536)
            connection.sock.settimeout(None)
            response = connection.read_response(timeout=5.0)
        assert response.status == 504
        assert b"took none of the request" in response.body
        assert "close" in response.connection_tokens
        # The server connection, with the bytes it would not take, is gone too.
        listener = running.runtime.listeners[0]
        wait_for(lambda: running.call(lambda: not listener.sweeper.watched), message="nothing left watched")


def test_a_server_slow_to_take_the_body_is_given_time_while_it_takes_some() -> None:
    """The send timeout counts from the last progress (NGINX's proxy_send_timeout): a server
    that took part of what was buffered for it when the deadline passes gets another."""
    loop = FakeLoop()
    server = Server("127.0.0.1:9", "127.0.0.1", 9)
    upstream = UpstreamConnection(server, DeadlineSweeper(loop))  # type: ignore[arg-type]
    buffer = FakeBuffer(300_000)
    upstream.waiting_on = 300_000
    buffer.size = 200_000  # the server took 100 kB
    loop.now = 5.0
    assert upstream.progressed(buffer)  # type: ignore[arg-type]
    assert (upstream.deadline, upstream.waiting_on) == (5.0 + upstream.response_timeout, 200_000)
    assert not upstream.progressed(buffer)  # type: ignore[arg-type]  # nothing since


class FakeLoop:
    now = 0.0

    def time(self) -> float:
        return self.now


class FakeBuffer:
    def __init__(self, size: int) -> None:
        self.size = size

    def get_write_buffer_size(self) -> int:
        return self.size


def test_laneways_own_pause_for_pipelining_is_no_reason_for_a_408(balancer: Callable[..., Balancer]) -> None:
    """While the request before it is answered, laneway does not read a pipelined request's
    body: the body timeout must not blame the client for that."""
    running = balancer(listener={"timeouts": {"body": SHORT}})
    with RawConnection(running.address) as connection:
        connection.send(b"GET /delay?s=1.0 HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.1)  # the client's pace: the rest of the body a moment later
        connection.send(b"world")
        first, second = connection.read_response(), connection.read_response()
    assert (first.status, second.status, second.body) == (200, 200, b"helloworld")


def test_a_client_that_stops_reading_is_cut_off_even_while_its_connection_closes(
        balancer: Callable[..., Balancer]) -> None:
    """Whatever the size of the answer, and so whatever of it is left in laneway's buffer once
    the kernel's are full: a client that reads none of it is cut off after the idle timeout
    (a response that ends under the buffer's high-water mark once waited for ever)."""
    running = balancer(listener={"timeouts": {"idle": SHORT}})
    listener = running.runtime.listeners[0]
    sockets = []
    try:
        for index, size in enumerate(range(64 * 1024, 6 * 1024 * 1024, 96 * 1024)):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(running.address)
            close = "Connection: close\r\n" if index % 2 else ""
            sock.sendall(f"GET /bytes?n={size} HTTP/1.1\r\nHost: a\r\n{close}\r\n".encode())
            sockets.append(sock)
        wait_for(lambda: running.call(lambda: len(listener.connections)) == 0, timeout=8.0,
                 message="every client that stopped reading cut off")
    finally:
        for sock in sockets:
            sock.close()
