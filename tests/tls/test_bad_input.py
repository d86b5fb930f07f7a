"""Clients that never finish a TLS handshake are cut off after the handshake timeout and
logged, while other clients of the same listener are served as usual."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.balancer import Balancer, wait_for
from tests.support.raw import connect, read_until_closed
from tests.tls.support import Pki

HANDSHAKE_TIMEOUT = 0.5


@pytest.fixture
def running(balancer: Callable[..., Balancer], pki: Pki) -> Balancer:
    return balancer(listener={"tls": {"certificates": [pki.pair("localhost")]},
                              "timeouts": {"handshake": f"{HANDSHAKE_TIMEOUT}s"}})


def client_hello(server_name: str = "localhost") -> bytes:
    """The first flight of a real TLS client, made in memory."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def served_over_tls(running: Balancer, pki: Pki) -> int:
    with httpx.Client(verify=pki.client_context(), trust_env=False, timeout=5.0) as client:
        return client.get(f"https://localhost:{running.address[1]}/ok").status_code


def assert_closed_between(running: Balancer, pki: Pki, send: bytes, low: float, high: float) -> None:
    """Send ``send``; the connection must be closed between ``low`` and ``high`` seconds later,
    and a well-behaved client must be served while it waits."""
    with connect(running.address) as sock:
        started = time.monotonic()
        if send:
            sock.sendall(send)
        assert served_over_tls(running, pki) == 200
        received = bytearray()
        closed, _ = read_until_closed(sock, received, timeout=high + 2.0)
        elapsed = time.monotonic() - started
    assert closed, "the connection was left open"
    assert low <= elapsed <= high, f"closed after {elapsed:.2f}s"
    assert b"HTTP/" not in received  # never an HTTP answer to something that is not TLS


def assert_nothing_left(running: Balancer) -> None:
    listener = running.runtime.listeners[0]
    wait_for(lambda: running.call(lambda: not listener.connections and not listener.tls.handshakes),
             message="connections and handshakes ended")


def test_garbage_instead_of_a_client_hello_is_cut_off_at_once(
        running: Balancer, pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "laneway.http")
    assert_closed_between(running, pki, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + b"\x00" * 512,
                          0.0, HANDSHAKE_TIMEOUT)
    assert_nothing_left(running)
    assert any("TLS handshake with 127.0.0.1" in record.getMessage() for record in caplog.records)
    assert [request.target for request in running.backend.requests] == ["/ok"]


def test_a_truncated_handshake_is_cut_off_after_the_handshake_timeout(
        running: Balancer, pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "laneway.http")
    hello = client_hello()
    assert_closed_between(running, pki, hello[: len(hello) // 2], HANDSHAKE_TIMEOUT * 0.8,
                          HANDSHAKE_TIMEOUT + 2.0)
    assert_nothing_left(running)
    assert any("taking longer than 0.5 seconds" in record.getMessage() for record in caplog.records)


def test_a_client_that_sends_nothing_is_cut_off_after_the_handshake_timeout(
        running: Balancer, pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "laneway.http")
    assert_closed_between(running, pki, b"", HANDSHAKE_TIMEOUT * 0.8, HANDSHAKE_TIMEOUT + 2.0)
    assert_nothing_left(running)
    assert any("TLS handshake with 127.0.0.1" in record.getMessage() for record in caplog.records)


def test_many_stalled_handshakes_do_not_hold_up_a_real_client(running: Balancer, pki: Pki) -> None:
    hello = client_hello()
    stalled = [connect(running.address) for _ in range(50)]
    try:
        for index, sock in enumerate(stalled):
            sock.sendall(hello[: index % len(hello)])
        started = time.monotonic()
        assert served_over_tls(running, pki) == 200
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT  # served before any stalled one ended
        for sock in stalled:
            assert read_until_closed(sock, bytearray(), timeout=HANDSHAKE_TIMEOUT + 3.0)[0]
    finally:
        for sock in stalled:
            sock.close()
    assert_nothing_left(running)


def test_a_client_that_rejects_the_certificate_is_logged_and_leaves_nothing(
        running: Balancer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "laneway.http")
    with pytest.raises(httpx.ConnectError):  # the system store does not trust the test CA
        httpx.get(f"https://localhost:{running.address[1]}/", trust_env=False, timeout=5.0)
    assert_nothing_left(running)
    wait_for(lambda: any("TLS handshake" in record.getMessage() for record in caplog.records))
    assert running.backend.requests == []


def test_shutdown_cuts_off_a_handshake_under_way_at_once(balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = balancer(listener={"tls": {"certificates": [pki.pair("localhost")]},
                                 "timeouts": {"handshake": "30s"}})
    listener = running.runtime.listeners[0]
    with connect(running.address) as sock:
        wait_for(lambda: running.call(lambda: len(listener.tls.handshakes) == 1), message="handshake started")
        started = time.monotonic()
        shutting_down = running.begin_shutdown(grace=10.0)
        assert read_until_closed(sock, bytearray(), timeout=5.0)[0]
        shutting_down.result(timeout=5.0)
        assert time.monotonic() - started < 5.0  # neither the grace nor the handshake timeout waited
    assert running.call(lambda: not listener.tls.handshakes)


def test_a_client_that_hangs_up_mid_handshake_is_logged_at_info_only(
        running: Balancer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "laneway.http")
    with connect(running.address) as sock:
        sock.sendall(client_hello()[:20])
    assert_nothing_left(running)
    record = wait_for(lambda: next((r for r in caplog.records if "TLS handshake" in r.getMessage()), None))
    assert record.levelno == logging.INFO
    assert "the client closed the connection" in record.getMessage()
