"""What servers send back is held to the same rules as requests: a malformed response becomes
a 502 for the client, and nothing of it (above all, no second response) is passed on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.balancer import Balancer
from tests.support.behaviours import MALFORMED
from tests.support.raw import RawConnection

REFUSED = ["cl-te", "bad-status", "bad-version", "garbage", "bad-chunk", "dup-cl", "bad-cl", "nul-header",
           "space-in-name", "space-before-colon", "unasked-101", "status-too-long", "status-099",
           "status-000", "te-gzip", "te-gzip-chunked", "te-chunked-tab"]


def get(connection: RawConnection, path: str) -> None:
    connection.send(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())


def assert_next_answer_is_genuine(running: Balancer, connection: RawConnection, seen: bytearray) -> None:
    """Whether the client connection survived or not, the next request gets a real answer."""
    try:
        get(connection, "/next")
        response = connection.read_response()
    except (ConnectionError, OSError):
        seen += connection.buffer
        running.probe()
        return
    seen += response.raw_head + response.body + connection.buffer
    assert (response.status, response.body) == (200, b"ok"), response


@pytest.mark.parametrize("kind", REFUSED)
def test_malformed_response_becomes_502(balancer: Callable[..., Balancer], kind: str) -> None:
    assert kind in MALFORMED
    running = balancer()
    seen = bytearray()
    with RawConnection(running.address) as connection:
        get(connection, f"/malformed?kind={kind}")
        response = connection.read_response()
        seen += response.raw_head + response.body
        assert response.status == 502, f"{kind}: {response.raw_head!r} {response.body!r}"
        assert response.header("x-backend") is None, "a header of the bad response got through"
        assert_next_answer_is_genuine(running, connection, seen)
    assert b"smuggled" not in seen


def test_obs_fold_in_a_response_is_refused_or_unfolded(balancer: Callable[..., Balancer]) -> None:
    """RFC 9112 5.2: a proxy MUST either replace the message with a 502 or replace each
    obs-fold with SP before forwarding."""
    running = balancer()
    with RawConnection(running.address) as connection:
        get(connection, "/malformed?kind=obs-fold")
        response = connection.read_response()
    if response.status == 200:
        folded = response.header("x-folded") or ""
        assert "\r" not in folded and "\n" not in folded, folded
        assert b"\r\n " not in response.raw_head and b"\r\n\t" not in response.raw_head
    else:
        assert response.status == 502


def test_second_response_glued_to_the_first_never_reaches_the_client(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    seen = bytearray()
    with RawConnection(running.address) as connection:
        get(connection, "/malformed?kind=extra-after-body")
        first = connection.read_response()
        seen += first.raw_head + first.body
        assert first.status in (200, 502)
        if first.status == 200:
            assert first.body == b"ok"
        assert_next_answer_is_genuine(running, connection, seen)
    assert b"smuggled" not in seen, bytes(seen)


def test_server_connection_that_sent_a_bad_response_is_not_reused(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with running.client() as client:
        assert client.get("/malformed?kind=bad-chunk").status_code == 502
        assert client.get("/after").status_code == 200
    backend = running.backend
    assert [c.requests[0].path for c in backend.connections] == ["/malformed", "/after"]
    assert backend.connections[0].closed


def test_a_connection_that_began_a_second_response_is_not_reused(balancer: Callable[..., Balancer]) -> None:
    """Half a head after a whole response raises nothing in llhttp; pooled, the connection
    would answer the next request with it."""
    running = balancer()
    with running.client() as client:
        first = client.get("/malformed?kind=partial-head-after")
        assert (first.status_code, first.content) == (200, b"ok")
        assert client.get("/after").status_code == 200
    backend = running.backend
    assert [c.requests[0].path for c in backend.connections] == ["/malformed", "/after"]
