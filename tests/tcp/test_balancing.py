"""Choosing servers for tcp connections: algorithms, failover, health checks."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from laneway.config import parse_config
from tests.support.balancer import wait_for
from tests.support.faults import BlackHole, closed_port
from tests.tcp.support import (
    TcpBackend,
    TcpBalancer,
    closed_by_peer,
    read_exactly,
    read_line,
    tcp_config,
)

Backends = Callable[..., TcpBackend]
Balancers = Callable[[dict[str, Any]], TcpBalancer]


def behind_a_refused_server(tcp_backend: Backends,
                            tcp_balancer: Balancers) -> tuple[TcpBackend, str, TcpBalancer]:
    """Pool ``p``: a closed port first, then a backend; round robin, one retry."""
    backend = tcp_backend("b0", greeting=None)
    refused = f"127.0.0.1:{closed_port()}"
    running = tcp_balancer(tcp_config({"p": [refused, backend.address]},
                                      pool={"algorithm": "round_robin", "retries": 1}))
    return backend, refused, running


def test_a_refused_server_is_skipped_before_any_byte_is_lost(
        tcp_backend: Backends, tcp_balancer: Balancers, caplog: pytest.LogCaptureFixture) -> None:
    backend, refused, running = behind_a_refused_server(tcp_backend, tcp_balancer)
    for index in range(6):
        with running.connect() as sock:
            # Sent before laneway can have connected anywhere: held, then sent to b0 whole.
            message = b"message %d " % index * 100
            sock.sendall(message)
            assert read_exactly(sock, len(message)) == message
    assert [bytes(peer.received) for peer in backend.peers] == [b"message %d " % i * 100 for i in range(6)]
    servers = running.runtime.pools["p"].servers
    assert servers[0].failures_total >= 3
    assert "cannot connect to server " + refused in caplog.text
    wait_for(lambda: running.call(lambda: [server.in_flight for server in servers]) == [0, 0],
             message="every connection given back")


def test_a_connect_timeout_moves_on_to_the_next_server(tcp_backend: Backends, tcp_balancer: Balancers,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", greeting=None)
    with BlackHole() as hole:
        hanging = hole.address
        running = tcp_balancer(tcp_config({"p": [hole.address, backend.address]},
                                          pool={"algorithm": "round_robin",
                                                "timeouts": {"connect": "0.2s"}}))
        for _ in range(2):
            with running.connect() as sock:
                sock.sendall(b"ping")
                assert read_exactly(sock, 4) == b"ping"
    assert running.runtime.pools["p"].servers[0].failures_total >= 1
    assert f"timed out connecting to server {hanging}; trying another server" in caplog.text


def test_no_server_left_closes_the_client_connection(tcp_balancer: Balancers,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    running = tcp_balancer(tcp_config({"p": [f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"]},
                                      pool={"retries": 5}))
    with running.connect() as sock:
        sock.sendall(b"lost cause")
        assert closed_by_peer(sock)
    assert "no other server of pool 'p' to try" in caplog.text
    servers = running.runtime.pools["p"].servers
    assert [server.failures_total for server in servers] == [1, 1]
    wait_for(lambda: running.call(lambda: not running.listener.connections), message="nothing left open")


def test_least_connections_counts_open_connections(tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    first, second = tcp_backend("b0", "hold"), tcp_backend("b1", "hold")
    running = tcp_balancer(tcp_config({"p": [first.address, second.address]},
                                      pool={"algorithm": "least_connections"}))
    servers = running.runtime.pools["p"].servers

    def open_one() -> tuple[socket.socket, bytes]:
        sock = running.connect()
        return sock, read_line(sock)

    sockets = [open_one() for _ in range(3)]
    names = sorted(name for _, name in sockets)
    assert names in ([b"b0\n", b"b0\n", b"b1\n"], [b"b0\n", b"b1\n", b"b1\n"])
    assert sorted(running.call(lambda: [s.in_flight for s in servers])) == [1, 2]
    # Close every connection to the busier server: the next must go to it (0 open against
    # 1), where round robin would take the other one's turn.
    busier = max(set(names), key=names.count)
    for sock, name in sockets:
        if name == busier:
            sock.close()
    wait_for(lambda: sorted(running.call(lambda: [s.in_flight for s in servers])) == [0, 1],
             message="closed connections no longer counted")
    more = [open_one()]
    assert [name for _, name in more] == [busier]
    assert sorted(running.call(lambda: [s.in_flight for s in servers])) == [1, 1]
    for sock, _ in sockets + more:
        sock.close()
    wait_for(lambda: running.call(lambda: [s.in_flight for s in servers]) == [0, 0],
             message="every connection given back")


def test_ip_hash_sends_a_client_address_to_one_server(tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    made = [tcp_backend(f"b{i}", "hold") for i in range(3)]
    running = tcp_balancer(tcp_config({"p": [b.address for b in made]}, pool={"algorithm": "ip_hash"}))
    seen = set()
    for _ in range(8):
        with running.connect() as sock:
            seen.add(read_line(sock))
    assert len(seen) == 1


def test_a_health_check_takes_a_dead_server_out(tcp_backend: Backends, tcp_balancer: Balancers,
                                                loop_thread: Any) -> None:
    alive, doomed = tcp_backend("b0", "hold"), tcp_backend("b1", "hold")
    check = {"type": "tcp", "interval": "0.1s", "timeout": "0.1s", "rise": 1, "fall": 1}
    running = tcp_balancer(tcp_config({"p": [alive.address, doomed.address]},
                                      pool={"algorithm": "round_robin", "health_check": check, "retries": 0}))
    servers = running.runtime.pools["p"].servers
    loop_thread.run(doomed.stop())
    wait_for(lambda: running.call(lambda: not servers[1].up), message="b1 marked down")
    failures = servers[1].failures_total
    for _ in range(6):  # retries 0: a pick of b1 would close the client's connection
        with running.connect() as sock:
            assert read_line(sock) == b"b0\n"
    assert servers[1].failures_total == failures


def test_outlier_detection_ejects_a_server_tcp_traffic_cannot_reach(
        tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    refused = f"127.0.0.1:{closed_port()}"
    running = tcp_balancer(tcp_config({"p": [refused, backend.address]},
                                      pool={"algorithm": "round_robin",
                                            "outlier_detection": {"consecutive_failures": 2,
                                                                  "ejection_time": "60s"}}))
    servers = running.runtime.pools["p"].servers
    for _ in range(4):
        with running.connect() as sock:
            sock.sendall(b"x")
            assert read_exactly(sock, 1) == b"x"
    assert running.call(lambda: servers[0].ejected)
    assert servers[0].failures_total == 2


def test_max_requests_caps_open_connections(tcp_backend: Backends, tcp_balancer: Balancers,
                                            caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", "hold")
    running = tcp_balancer(tcp_config({"p": [backend.address]}, pool={"limits": {"max_requests": 1}}))
    with running.connect() as first:
        assert read_line(first) == b"b0\n"
        with running.connect() as second:
            assert closed_by_peer(second)
        assert "every server of pool 'p' is at its limit" in caplog.text
    wait_for(lambda: running.call(lambda: running.runtime.pools["p"].servers[0].in_flight == 0),
             message="the first connection given back")
    with running.connect() as third:
        assert read_line(third) == b"b0\n"


def test_connect_retries_spend_the_retry_budget(tcp_backend: Backends, tcp_balancer: Balancers,
                                                caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", greeting=None)
    refused = f"127.0.0.1:{closed_port()}"
    running = tcp_balancer(tcp_config({"p": [refused, backend.address]},
                                      pool={"algorithm": "round_robin",
                                            "retry_budget": {"percent": 0, "min_per_second": 0.1}}))
    outcomes = []
    for _ in range(6):  # the budget allows one retry in its first second, no more
        with running.connect() as sock:
            sock.sendall(b"x")
            outcomes.append(not closed_by_peer(sock, timeout=2.0))
    assert running.runtime.pools["p"].retry_budget.retries_total == 1
    assert "; tried 1 server(s) of pool 'p'" in caplog.text
    assert outcomes.count(False) >= 1


def test_a_reload_sends_new_connections_to_the_new_pool_and_keeps_open_ones(
        tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    first, second = tcp_backend("first"), tcp_backend("second")
    running = tcp_balancer(tcp_config({"p": [first.address]}))
    with running.connect() as kept:
        assert read_line(kept) == b"first\n"
        running.loop.run(running.runtime.reload(parse_config(tcp_config({"p": [second.address]}))))
        with running.connect() as fresh:
            assert read_line(fresh) == b"second\n"
        kept.sendall(b"still here")
        assert read_exactly(kept, 10) == b"still here", "the open connection keeps its server"


def test_each_connection_to_a_server_counts_its_connect_time(
        tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    """The one latency a tcp listener sees, shown per server in the admin API and /metrics;
    a refused attempt is a failure, not a connect time."""
    backend, refused, running = behind_a_refused_server(tcp_backend, tcp_balancer)
    for _ in range(3):
        with running.connect() as sock:
            sock.sendall(b"ping")
            assert read_exactly(sock, 4) == b"ping"
    by_key = {server.key: server for server in running.runtime.pools["p"].servers}
    reached = by_key[backend.address]
    assert sum(reached.connect_counts) == 3
    assert 0 < reached.connect_sum < 3 * 1.0
    assert sum(by_key[refused].connect_counts) == 0
