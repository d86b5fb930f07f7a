"""Keep-alive on both sides: one client connection carries many requests, and the proxy
reuses its connections to each server (max idle, idle timeout, stale connections retried)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.support.balancer import Balancer, wait_for
from tests.support.raw import RawConnection


def get(connection: RawConnection, path: str = "/", *extra: str, version: str = "1.1") -> None:
    lines = [f"GET {path} HTTP/{version}", "Host: a", *extra]
    connection.send(("\r\n".join(lines) + "\r\n\r\n").encode())


def open_connections(running: Balancer) -> int:
    return sum(not c.closed for backend in running.backends for c in backend.connections)


def test_many_requests_share_one_client_connection_and_few_server_connections(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        for index in range(50):
            get(connection, f"/n{index}")
            response = connection.read_response()
            assert response.status == 200 and response.body == b"ok", response
            assert "close" not in response.connection_tokens
        assert not connection.closed
    paths = [request.path for request in running.backend.requests]
    assert paths == [f"/n{index}" for index in range(50)]
    assert len(running.backend.connections) <= 2


def test_httpx_client_requests_reuse_server_connections(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with running.client() as client:
        for _ in range(50):
            assert client.get("/").status_code == 200
    assert len(running.backend.requests) == 50
    assert len(running.backend.connections) <= 2


def test_many_concurrent_clients_are_all_served(balancer: Callable[..., Balancer]) -> None:
    running = balancer(backends=3)

    def client_session(index: int) -> list[str]:
        with running.client() as client:
            return [client.get(f"/c{index}/r{request}").text for request in range(20)]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(client_session, range(16)))
    assert answers == [["ok"] * 20] * 16
    paths = sorted(r.path for backend in running.backends for r in backend.requests)
    assert paths == sorted(f"/c{index}/r{request}" for index in range(16) for request in range(20))
    connections = sum(len(backend.connections) for backend in running.backends)
    assert connections <= 16 + 3, f"{connections} server connections for 16 clients"


def test_round_robin_over_kept_alive_connections(balancer: Callable[..., Balancer]) -> None:
    running = balancer(backends=3, pool={"algorithm": "round_robin"})
    with running.client() as client:
        answered = [client.get("/").headers["x-backend"] for _ in range(30)]
    # Round robin: every server in turn, each once per cycle.
    cycle = answered[:3]
    assert sorted(cycle) == ["backend0", "backend1", "backend2"]
    assert answered == cycle * 10
    for backend in running.backends:
        assert len(backend.requests) == 10
        assert len(backend.connections) <= 2


def test_server_connection_closed_while_idle_is_not_used(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    assert running.get("/first").status_code == 200
    backend = running.backend
    assert running.call(backend.close_idle) == 1
    wait_for(lambda: backend.connections[0].closed, message="server-side close")
    response = running.get("/second")
    assert response.status_code == 200
    assert [r.path for r in backend.requests] == ["/first", "/second"]


def test_stale_pooled_connection_is_retried_on_a_fresh_one(balancer: Callable[..., Balancer]) -> None:
    """The server hangs up just as a reused connection carries a request (RFC 9112 9.3.1):
    the proxy must resend it on a new connection, and the client never notices."""
    running = balancer(backend_settings={"close_reused": True})
    with running.client() as client:
        for index in range(4):
            response = client.get(f"/try{index}")
            assert response.status_code == 200, response.text
    backend = running.backend
    answered = [c.requests[0].path for c in backend.connections]
    assert answered == ["/try0", "/try1", "/try2", "/try3"]
    # Every connection after the first saw a request it dropped: the one retried elsewhere.
    assert all(len(c.requests) == 2 for c in backend.connections[:-1])


def test_server_saying_connection_close_is_not_reused(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        get(connection, "/response-headers?h=Connection:close")
        first = connection.read_response()
        get(connection, "/again")
        second = connection.read_response()
    assert first.status == 200 and second.status == 200
    assert "close" not in first.connection_tokens, "the server's Connection: close is its own hop"
    backend = running.backend
    assert [len(c.requests) for c in backend.connections] == [1, 1]
    wait_for(lambda: backend.connections[0].closed, message="the proxy closing the used-up connection")


def test_client_connection_close_is_honoured(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        get(connection, "/", "Connection: close")
        response = connection.read_response()
        assert response.status == 200
        assert "close" in response.connection_tokens
        connection.wait_closed()


def test_http10_keep_alive_is_honoured(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        for _ in range(3):
            get(connection, "/", "Connection: keep-alive", version="1.0")
            response = connection.read_response()
            assert response.status == 200 and response.body == b"ok"
            assert "keep-alive" in response.connection_tokens
        assert not connection.closed
    assert len(running.backend.requests) == 3


def test_http10_without_keep_alive_is_closed_after_the_response(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        get(connection, "/", version="1.0")
        assert connection.read_response().status == 200
        connection.wait_closed()


def test_idle_client_connection_is_closed_after_the_idle_timeout(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"idle": "0.5s"}})
    with RawConnection(running.address) as connection:
        get(connection)
        assert connection.read_response().status == 200
        idle_since = time.monotonic()
        assert connection.wait_closed(timeout=5.0) == b"", "closing an idle connection needs no answer"
        waited = time.monotonic() - idle_since
    assert 0.4 <= waited < 3.0, waited


def test_idle_client_connection_is_kept_within_the_idle_timeout(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"timeouts": {"idle": "5s"}})
    with RawConnection(running.address) as connection:
        get(connection)
        assert connection.read_response().status == 200
        assert connection.is_open_after(0.6)
        get(connection)
        assert connection.read_response().status == 200
    assert len(running.backend.connections) == 1


def test_idle_server_connection_is_closed_after_the_keepalive_idle_timeout(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"keepalive": {"idle_timeout": "0.5s"}})
    assert running.get("/").status_code == 200
    backend = running.backend
    started = time.monotonic()
    wait_for(lambda: backend.connections[0].closed, timeout=5.0, message="idle server connection closed")
    assert time.monotonic() - started >= 0.3
    assert running.get("/").status_code == 200
    assert len(backend.connections) == 2


def test_max_idle_caps_the_connections_kept_per_server(balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"keepalive": {"max_idle": 1}})
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: running.get("/delay?s=0.3").status_code, range(4)))
    assert statuses == [200] * 4
    backend = running.backend
    assert len(backend.connections) == 4, "four concurrent requests need four connections"
    wait_for(lambda: open_connections(running) == 1, message="all but one idle connection closed")


def test_max_idle_zero_keeps_no_server_connection(balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"keepalive": {"max_idle": 0}})
    with running.client() as client:
        for _ in range(3):
            assert client.get("/").status_code == 200
    assert len(running.backend.connections) == 3
    wait_for(lambda: open_connections(running) == 0, message="every server connection closed")
