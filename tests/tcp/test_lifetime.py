"""How long tcp connections live: idle timeout, and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from laneway.tcp.connection import ServerEnd, TcpConnection
from tests.support.balancer import wait_for
from tests.support.cycles import in_cycles
from tests.tcp.support import TcpBackend, TcpBalancer, closed_by_peer, read_exactly, tcp_config

Backends = Callable[..., TcpBackend]
Balancers = Callable[[dict[str, Any]], TcpBalancer]
IDLE = 0.3
SLACK = 2.0


def test_an_idle_connection_is_closed_after_the_idle_timeout(
        tcp_backend: Backends, each_way_balancer: Balancers, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="laneway.tcp")
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]},
                                      listener={"timeouts": {"idle": f"{IDLE}s"}}))
    with running.connect() as sock:
        sock.sendall(b"hi")
        assert read_exactly(sock, 2) == b"hi"
        quiet_since = time.monotonic()
        assert closed_by_peer(sock, timeout=IDLE + SLACK)
        waited = time.monotonic() - quiet_since
    assert IDLE * 0.9 <= waited <= IDLE + SLACK
    assert "after 0.3s idle" in caplog.text
    wait_for(lambda: backend.peers[0].closed, message="the server's side closed too")


def test_a_busy_connection_outlives_the_idle_timeout(tcp_backend: Backends,
                                                     each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]},
                                      listener={"timeouts": {"idle": f"{IDLE}s"}}))
    with running.connect() as sock:
        started = time.monotonic()
        while time.monotonic() - started < IDLE * 4:  # bounded: about 12 round trips
            sock.sendall(b"tick")
            assert read_exactly(sock, 4) == b"tick"
            time.sleep(IDLE / 3)  # the pause between messages is the point of the test
    assert len(backend.peers) == 1


def test_shutdown_lets_open_connections_finish(tcp_backend: Backends, each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect() as sock:
        sock.sendall(b"before")
        assert read_exactly(sock, 6) == b"before"
        running.stopped = True
        future = asyncio.run_coroutine_threadsafe(running.runtime.shutdown(grace=10.0), running.loop.loop)
        # No new connections...
        wait_for(lambda: _refused(running.address), message="the listener stopped accepting")
        # ...while the open one still works, and shutdown waits for it.
        sock.sendall(b"during")
        assert read_exactly(sock, 6) == b"during"
        assert not future.done()
    future.result(timeout=5.0)


def test_shutdown_drops_connections_still_open_after_the_grace(
        tcp_backend: Backends, each_way_balancer: Balancers, caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect() as sock:
        sock.sendall(b"x")
        assert read_exactly(sock, 1) == b"x"
        running.stopped = True
        started = time.monotonic()
        running.loop.run(running.runtime.shutdown(grace=0.3))
        assert 0.25 <= time.monotonic() - started <= 0.3 + SLACK
        assert closed_by_peer(sock)
    assert "dropping 1 connection(s) still open after 0.3s" in caplog.text
    wait_for(lambda: backend.peers[0].closed, message="the server's side closed")
    assert running.runtime.pools["p"].servers[0].in_flight == 0


def _refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_closed_connections_leave_no_reference_cycles(tcp_backend: Backends,
                                                      each_way_balancer: Balancers) -> None:
    """Each end of a pipe knows the other; once both are closed nothing may hold them in a
    cycle, or only a garbage collection pass would free them."""
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    in_cycles(TcpConnection, ServerEnd)
    for _ in range(10):
        with running.connect() as sock:
            sock.sendall(b"ping")
            assert read_exactly(sock, 4) == b"ping"
    wait_for(lambda: not running.listener.connections, message="every connection closed")
    assert in_cycles(TcpConnection, ServerEnd) == []
