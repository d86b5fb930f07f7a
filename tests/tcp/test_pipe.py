"""Bytes through a tcp listener: whole and in order both ways, half-close, back-pressure.

Every test runs twice: bytes moved by splice (Linux) and through the asyncio transports
(elsewhere, and for a connection whose first bytes did not all go out at once).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from laneway.tcp.pipe import HIGH_WATER
from tests.support.balancer import wait_for
from tests.tcp.support import (
    TcpBackend,
    TcpBalancer,
    pattern,
    read_exactly,
    read_line,
    read_to_end,
    tcp_config,
)

Backends = Callable[..., TcpBackend]
Balancers = Callable[[dict[str, Any]], TcpBalancer]

# One read (uvloop reads up to 256 KiB at a time) beyond the high-water mark; a pipe holds less.
BUFFER_BOUND = HIGH_WATER + 256 * 1024


def spliced(running: TcpBalancer) -> bool:
    return running.listener.splice


def test_small_exchange_is_echoed(tcp_backend: Backends, each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0")
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect() as sock:
        assert read_line(sock) == b"b0\n"  # the server spoke first: laneway connected at once
        for message in (b"hello", b"x" * 1000, b"\x00\xff" * 10):
            sock.sendall(message)
            assert read_exactly(sock, len(message)) == message
    assert bytes(backend.peers[0].received) == b"hello" + b"x" * 1000 + b"\x00\xff" * 10


def test_large_transfers_both_ways_at_once(tcp_backend: Backends, each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    payload = pattern(32 * 1024 * 1024)
    with running.connect(timeout=30.0) as sock:
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
        sender.start()
        echoed = read_to_end(sock)
        sender.join(30.0)
    assert len(echoed) == len(payload)
    assert echoed == payload
    assert bytes(backend.peers[0].received) == payload


def test_client_half_close_still_gets_the_whole_response(tcp_backend: Backends,
                                                         each_way_balancer: Balancers) -> None:
    reply_size = 8 * 1024 * 1024
    backend = tcp_backend("b0", "reply_after_eof", greeting=None, reply_size=reply_size)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect(timeout=30.0) as sock:
        sock.sendall(b"request")
        sock.shutdown(socket.SHUT_WR)
        reply = read_to_end(sock)
    assert reply == pattern(reply_size, seed=1)
    assert bytes(backend.peers[0].received) == b"request"
    assert backend.peers[0].eof
    wait_for(lambda: running.call(lambda: not running.listener.connections),
             message="the connection closed once both directions ended")


def test_server_half_close_lets_the_client_keep_sending(tcp_backend: Backends,
                                                        each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", "echo", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect() as sock:
        sock.sendall(b"one")
        assert read_exactly(sock, 3) == b"one"
        sock.shutdown(socket.SHUT_WR)
        # The echo server answers an EOF with its own; the pipe then closes both ends.
        assert read_to_end(sock) == b""
    wait_for(lambda: backend.peers[0].closed, message="the server's connection closed")
    wait_for(lambda: running.call(lambda: not running.listener.connections),
             message="laneway's connection closed")


def test_slow_reader_makes_the_server_wait_not_laneway_buffer(tcp_backend: Backends,
                                                              each_way_balancer: Balancers) -> None:
    size = 256 * 1024 * 1024
    backend = tcp_backend("b0", "source", greeting=None, source_size=size)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect(timeout=30.0) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        # The client reads nothing: the server's sending must stall well short of the end.
        wait_for(lambda: backend.peers and backend.peers[0].sent > 0, message="the server sending")
        stalled = wait_for(lambda: _stalled(backend), timeout=20.0, message="the server stalled")
        assert stalled < size // 4

        def buffered() -> tuple[int, int, bool]:
            connection = next(iter(running.listener.connections))
            assert connection.upstream is not None
            if connection.spliced is not None:
                reading = connection.spliced.download.reading
            else:
                reading = not connection.upstream.paused
            return (*connection.buffered(), not reading)

        to_client, to_server, server_paused = running.call(buffered)
        assert (running.call(lambda: next(iter(running.listener.connections)).spliced is not None)
                == spliced(running))
        assert to_client <= BUFFER_BOUND
        assert to_server == 0
        assert server_paused, "laneway should have stopped reading from the server"
        # Reading resumes the flow: every byte arrives, in order.
        received = read_exactly(sock, size)
    assert received == pattern(size, seed=2)


def _stalled(backend: TcpBackend) -> int:
    """The bytes the server has sent, once that count stops moving for a while (else 0)."""
    before = backend.peers[0].sent
    time.sleep(0.3)
    after = backend.peers[0].sent
    return after if after == before else 0


def test_a_server_that_does_not_read_makes_the_client_wait(tcp_backend: Backends,
                                                           each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", "stall", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    chunk = b"u" * 65536
    sent = 0
    with running.connect(timeout=0.5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:  # until the client's own send blocks
            try:
                sent += sock.send(chunk)
            except TimeoutError:
                break
        else:
            raise AssertionError("the client could send without end: no back-pressure")

        def buffered() -> tuple[int, bool]:
            connection = next(iter(running.listener.connections))
            if connection.spliced is not None:
                reading = connection.spliced.upload.reading
            else:
                reading = not connection.paused
            return connection.buffered()[1], not reading

        to_server, client_paused = running.call(buffered)
    assert to_server <= BUFFER_BOUND
    assert client_paused, "laneway should have stopped reading from the client"
    assert sent < 256 * 1024 * 1024


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_nothing_is_left_open_after_connections_end_or_reset(tcp_backend: Backends,
                                                             each_way_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = each_way_balancer(tcp_config({"p": [backend.address]}))
    with running.connect() as sock:  # a first connection, so lazily made loop state exists
        sock.sendall(b"warm")
        assert read_exactly(sock, 4) == b"warm"
    wait_for(lambda: running.call(lambda: not running.listener.connections), message="closed")
    before = open_descriptors()
    for index in range(20):
        sock = running.connect()
        sock.sendall(b"x" * 1000)
        assert read_exactly(sock, 1000) == b"x" * 1000
        if index % 2:  # a reset instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    wait_for(lambda: running.call(lambda: not running.listener.connections), message="all closed")
    wait_for(lambda: all(peer.closed for peer in backend.peers), message="the server's sides closed")
    assert running.runtime.pools["p"].servers[0].in_flight == 0
    wait_for(lambda: open_descriptors() <= before, message=f"descriptors back to {before}")
