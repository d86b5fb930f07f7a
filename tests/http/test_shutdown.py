"""Shutdown: stop accepting at once, let in-flight requests finish within the grace period,
close idle connections, and cut off what is still running when the grace period ends."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.balancer import Balancer, wait_for
from tests.support.raw import RawConnection


def refused(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def test_in_flight_request_finishes_while_new_connections_are_refused(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(running.get, "/delay?s=1")
        wait_for(lambda: running.backend.requests, message="the slow request at the server")
        started = time.monotonic()
        shutdown = running.begin_shutdown(grace=5.0)
        wait_for(lambda: refused(running.address), message="new connections refused")
        response = pending.result(timeout=10)
        shutdown.result(timeout=10)
        took = time.monotonic() - started
    assert (response.status_code, response.text) == (200, "ok")
    assert took < 4.0, f"shutdown waited {took:.1f}s although the last request ended after about 1s"


def test_request_past_the_grace_period_is_cut_off(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(running.get, "/delay?s=30")
        wait_for(lambda: running.backend.requests, message="the slow request at the server")
        started = time.monotonic()
        running.begin_shutdown(grace=0.5).result(timeout=10)
        took = time.monotonic() - started
        error = pending.exception(timeout=10)
    assert isinstance(error, httpx.TransportError), f"the client got {error!r}, not a closed connection"
    assert 0.4 <= took < 3.0, took


def test_idle_keep_alive_connections_close_at_once(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"idle": "60s"}})
    with RawConnection(running.address) as connection:
        connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert connection.read_response().status == 200
        started = time.monotonic()
        shutdown = running.begin_shutdown(grace=10.0)
        assert connection.wait_closed(timeout=5.0) == b""
        shutdown.result(timeout=5)
        assert time.monotonic() - started < 3.0


def test_keep_alive_connection_closes_after_its_in_flight_response(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"GET /delay?s=0.5 HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: running.backend.requests, message="the slow request at the server")
        shutdown = running.begin_shutdown(grace=5.0)
        response = connection.read_response()
        assert (response.status, response.body) == (200, b"ok")
        assert "close" in response.connection_tokens, "the last response should say the connection ends"
        connection.wait_closed(timeout=5.0)
        shutdown.result(timeout=5)


def test_server_connections_are_closed_after_shutdown(balancer: Callable[..., Balancer]) -> None:
    running = balancer(backends=2, pool={"algorithm": "round_robin"})
    with running.client() as client:
        for _ in range(4):
            assert client.get("/").status_code == 200
    running.begin_shutdown(grace=1.0).result(timeout=5)
    connections = [c for backend in running.backends for c in backend.connections]
    assert len(connections) >= 2, "both servers were used"
    wait_for(lambda: all(c.closed for c in connections), message="pooled server connections closed")
