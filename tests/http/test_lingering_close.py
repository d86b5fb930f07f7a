"""An answer that comes before the whole request (a server's early refusal, or laneway's own
413) ends the connection gently: ``Connection: close``, a half-close, and the rest of the
body read and dropped, so the client is not reset while it sends and can read why it was
refused; the close follows the client's."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from laneway.http.lingering import LINGER_MOST, LINGER_QUIET, Lingering
from tests.support.balancer import Balancer, wait_for
from tests.support.fake_time import FakeTime
from tests.support.raw import RawConnection

BLOCK = b"x" * 65536


def assert_rest_of_body_is_taken(connection: RawConnection, blocks: int = 24) -> None:
    """The client keeps sending after the answer and the FIN; a closed socket would reset it."""
    for _ in range(blocks):
        connection.sock.sendall(BLOCK)
    connection.sock.shutdown(socket.SHUT_WR)


def assert_closed_after_the_client(running: Balancer) -> None:
    listener = running.runtime.listeners[0]
    wait_for(lambda: running.call(lambda: not listener.connections), message="closed after the client")


def test_a_server_that_answers_before_the_body_ends_gets_a_lingering_close(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"POST /upload?answer=early HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n"
                        + BLOCK)
        response = connection.read_response()
        assert (response.status, response.body) == (413, b"too large")
        assert "close" in response.connection_tokens
        assert connection.wait_closed() == b""  # the half-close: nothing follows the answer
        assert_rest_of_body_is_taken(connection)
        assert_closed_after_the_client(running)
    assert running.get("/after").status_code == 200


def test_laneways_own_413_mid_upload_gets_a_lingering_close(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1, routes=[{"pool": "p", "max_body_size": "1KiB"}])
    with RawConnection(running.address) as connection:
        connection.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK))
        response = connection.read_response()
        assert response.status == 413
        assert "close" in response.connection_tokens
        assert connection.wait_closed() == b""
        assert_rest_of_body_is_taken(connection)
        assert_closed_after_the_client(running)
    assert running.backend.requests == [] or not running.backend.requests[0].complete


@dataclass
class Watched:
    deadline: float = 0.0
    deadline_kind: int = -1


def test_lingering_ends_after_a_quiet_spell_or_at_the_most_whatever_the_client_sends() -> None:
    clock = FakeTime()  # at 100.0
    connection = Watched()
    sink = Lingering(connection, lambda: clock.now, 0)
    assert (connection.deadline, connection.deadline_kind) == (100.0 + LINGER_QUIET, 0)
    clock.advance(3.0)
    sink.write(b"more body")
    assert connection.deadline == 103.0 + LINGER_QUIET  # each write moves it on
    clock.advance(LINGER_MOST)
    sink.write(b"still sending")
    assert connection.deadline == 100.0 + LINGER_MOST  # but never past the most
