"""Upgrade (WebSocket): after the server's 101 the proxy tunnels bytes both ways untouched."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterator

import pytest
from websockets.sync.client import connect as websocket_connect

from tests.support.balancer import Balancer, start_balancer, wait_for
from tests.support.faults import ScriptedServer, closed_port, switch_then_read_nothing
from tests.support.loop_thread import LoopThread
from tests.support.raw import RawConnection
from tests.support.ws_backend import WebSocketBackend


@pytest.fixture
def websocket_balancer(loop_thread: LoopThread) -> Iterator[tuple[Balancer, WebSocketBackend]]:
    backend = loop_thread.run(WebSocketBackend().start())
    running = start_balancer(loop_thread, 0, servers=["{}:{}".format(*backend.address)])
    yield running, backend
    running.stop()
    loop_thread.run(backend.stop())


def ws_url(running: Balancer, path: str = "/socket") -> str:
    host, port = running.address
    return f"ws://{host}:{port}{path}"


def test_websocket_echo_through_the_proxy(websocket_balancer: tuple[Balancer, WebSocketBackend]) -> None:
    running, backend = websocket_balancer
    with websocket_connect(ws_url(running), proxy=None, open_timeout=5, close_timeout=2) as socket:
        socket.send("hello")
        assert socket.recv(timeout=5) == "hello"
        binary = bytes(range(256)) * 300
        socket.send(binary)
        assert socket.recv(timeout=5) == binary
    assert backend.messages_received == 2


def test_websocket_server_pushes_without_being_asked(
        websocket_balancer: tuple[Balancer, WebSocketBackend]) -> None:
    running, _ = websocket_balancer
    with websocket_connect(ws_url(running), proxy=None, open_timeout=5, close_timeout=2) as socket:
        socket.send("push 5")
        assert [socket.recv(timeout=5) for _ in range(5)] == [f"push {index}" for index in range(5)]


def test_websocket_handshake_carries_forwarding_headers(
        websocket_balancer: tuple[Balancer, WebSocketBackend]) -> None:
    running, backend = websocket_balancer
    with websocket_connect(ws_url(running), proxy=None, open_timeout=5, close_timeout=2) as socket:
        socket.send("x")
        socket.recv(timeout=5)
    headers = {name.lower(): value for name, value in backend.handshakes[0]}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert "sec-websocket-key" in headers


def test_several_websockets_at_once(websocket_balancer: tuple[Balancer, WebSocketBackend]) -> None:
    running, backend = websocket_balancer
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(websocket_connect(ws_url(running), proxy=None, open_timeout=5,
                                                         close_timeout=2)) for _ in range(3)]
        for index, socket in enumerate(sockets):
            socket.send(f"from {index}")
        for index, socket in enumerate(sockets):
            assert socket.recv(timeout=5) == f"from {index}"
    assert len(backend.handshakes) == 3


def upgrade_request(path: str = "/upgrade", extra: bytes = b"") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n".encode()
            + extra)


def test_raw_tunnel_carries_bytes_both_ways(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request("/upgrade?greeting=hi"))
        response = connection.read_response()
        assert response.status == 101
        assert response.header("upgrade") == "echo"
        assert "upgrade" in response.connection_tokens
        assert connection.read_exactly(2) == b"hi"  # sent by the server unprompted
        payload = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB, not valid HTTP
        connection.send(payload)
        assert connection.read_exactly(len(payload), timeout=10.0) == payload
        connection.send(b"GET / HTTP/1.1\r\n\r\n")  # inside the tunnel this is just bytes
        assert connection.read_exactly(18) == b"GET / HTTP/1.1\r\n\r\n"
    forwarded = running.backend.requests[0]
    assert forwarded.header("upgrade") == "echo"
    assert len(running.backend.requests) == 1


def test_bytes_sent_with_the_upgrade_request_reach_the_server_after_it(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request(extra=b"early bytes"))
        assert connection.read_response().status == 101
        assert connection.read_exactly(11) == b"early bytes"


@pytest.mark.parametrize("pool_state", ["cold", "warm"])
def test_bytes_after_an_upgrade_the_server_refuses_never_reach_it(
        balancer: Callable[..., Balancer], pool_state: str) -> None:
    """They wait for the 101: a server that answers otherwise would read them as requests
    laneway never routed (WebSocket smuggling), and its connection is not used again."""
    running = balancer()
    running.backend.refuse_upgrade = True
    if pool_state == "warm":
        assert running.get("/warm").status_code == 200
    smuggled = b"GET /internal HTTP/1.1\r\nHost: a\r\n\r\n"
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request(extra=smuggled))
        response = connection.read_response()
        assert (response.status, response.body) == (200, b"ok")
        assert "close" in response.connection_tokens
        connection.wait_closed()
    assert running.get("/after").status_code == 200
    targets = [r.target for r in running.backend.requests]
    assert "/internal" not in targets
    assert targets[-1] == "/after"
    upgraded = next(c for c in running.backend.connections if any(r.upgrade for r in c.requests))
    assert upgraded.requests[-1].target == "/upgrade", "the server connection was used again"


def test_closing_the_tunnel_closes_the_server_side(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request())
        assert connection.read_response().status == 101
        connection.send(b"ping")
        assert connection.read_exactly(4) == b"ping"
    wait_for(lambda: running.backend.connections[0].closed, message="the server side of the tunnel closed")


def test_upgrade_header_without_connection_upgrade_is_no_upgrade(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"GET /plain HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\n\r\n")
        response = connection.read_response()
        assert (response.status, response.body) == (200, b"ok")
        connection.send(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        assert connection.read_response().status == 200
    assert running.backend.requests[0].header("upgrade") is None


def test_a_tunnel_buffers_little_for_a_client_that_does_not_read(balancer: Callable[..., Balancer]) -> None:
    """Back-pressure both ways: the server's echo waits for the client to read, and the
    client's sending waits for the server, instead of laneway buffering without end."""
    running = balancer()
    listener = running.runtime.listeners[0]
    block = b"x" * 65536
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request())
        assert connection.read_response().status == 101
        connection.sock.settimeout(0.5)
        sent = 0
        with pytest.raises(TimeoutError):
            while sent < 64 << 20:
                sent += connection.sock.send(block)
        buffered = running.call(
            lambda: sum(c.transport.get_write_buffer_size() for c in listener.connections))
    assert buffered <= 1 << 20, buffered


def test_an_idle_tunnel_is_closed_after_the_response_timeout(balancer: Callable[..., Balancer]) -> None:
    running = balancer(pool={"timeouts": {"response": "0.5s"}})
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request())
        assert connection.read_response().status == 101
        for _ in range(5):  # traffic every 0.2 s for a second: kept open past the timeout
            connection.send(b"ping")
            assert connection.read_exactly(4) == b"ping"
            time.sleep(0.2)
        assert connection.wait_closed(timeout=5.0) == b""
    wait_for(lambda: running.backend.connections[0].closed, message="the server side of the tunnel closed")


def test_a_tunnel_to_a_server_that_reads_nothing_holds_little_and_ends(
        balancer: Callable[..., Balancer]) -> None:
    """The client's bytes wait while the server reads none (also the ones held until a late
    101), and once nothing has moved for the response timeout both sides are closed, though
    laneway still holds bytes for the server."""
    late_switch = functools.partial(switch_then_read_nothing, after=0.3)
    with ScriptedServer(late_switch) as server:
        running = balancer(0, servers=[server.address], pool={"timeouts": {"response": "1.5s"}})
        listener = running.runtime.listeners[0]
        block = b"x" * 65536
        with RawConnection(running.address) as connection:
            connection.send(upgrade_request())
            connection.sock.settimeout(0.2)  # well within the tunnel's idle timeout
            sent, until = 0, time.monotonic() + 1.0  # past the 101, sent at 0.3 s
            while time.monotonic() < until and sent < 64 << 20:
                with contextlib.suppress(TimeoutError):
                    sent += connection.sock.send(block)
            assert sent < 64 << 20, "nothing held the client back"
            buffered = running.call(lambda: sum(
                item.transport.get_write_buffer_size() for item in listener.sweeper.watched
                if item not in listener.connections))
            assert buffered <= 1 << 20, buffered
            wait_for(lambda: running.call(lambda: not listener.connections and not listener.sweeper.watched),
                     message="both sides of the idle tunnel closed")


def test_an_upgrade_that_gets_an_error_closes_the_connection(balancer: Callable[..., Balancer]) -> None:
    running = balancer(0, servers=[f"127.0.0.1:{closed_port()}"])
    with RawConnection(running.address) as connection:
        connection.send(upgrade_request())
        response = connection.read_response()
        assert response.status == 502
        assert "close" in response.connection_tokens  # the client's parser stopped at the upgrade
        connection.wait_closed()
