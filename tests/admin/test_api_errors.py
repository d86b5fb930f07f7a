"""Bad input to the admin API: a 4xx with a JSON error naming the field; nothing changes."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.admin.conftest import Admin


def server_path(running: Admin, index: int = 0) -> str:
    host, port = running.running.backends[index].address
    return f"/api/pools/p/servers/{host}:{port}"


@pytest.mark.parametrize(("method", "suffix", "body", "status", "field", "words"), [
    ("PUT", "/weight", {"weight": 0}, 422, "weight", "weight: input should be greater than or equal to 1"),
    ("PUT", "/weight", {"weight": "heavy"}, 422, "weight", "got 'heavy'"),
    ("PUT", "/weight", {}, 422, "weight", "weight: field required"),
    ("PUT", "/weight", {"weight": 2, "extra": 1}, 422, "extra", "extra: extra inputs are not permitted"),
    ("PUT", "/state", {"state": "sleeping"}, 422, "state", "'ready', 'drain' or 'maintenance'"),
    ("PUT", "/state", b"not json", 422, "body", "body: not valid JSON"),
    ("POST", "/state", {"state": "drain"}, 405, None, "POST is not allowed"),
])
def test_bad_changes(admin: Callable[..., Admin], method: str, suffix: str, body: Any, status: int,
                     field: str | None, words: str) -> None:
    running = admin()
    with running.client() as api:
        content = body if isinstance(body, bytes) else None
        response = api.request(method, server_path(running) + suffix, content=content,
                               json=None if content is not None else body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["field"] == field
        assert words in response.json()["error"], response.json()
        server = running.pool().servers[0]
        assert (server.weight, server.state) == (1, "ready")


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    ({"address": "nowhere"}, 422, "address", "a server address must be host:port"),
    ({"address": "127.0.0.1:9", "weight": 0}, 422, "weight", "greater than or equal to 1"),
    ({"address": "127.0.0.1:9", "state": "off"}, 422, "state", ""),
    ({"address": "127.0.0.1:9", "colour": "red"}, 422, "colour", "extra inputs are not permitted"),
    ({"weight": 2}, 422, "address", "field required"),
])
def test_bad_new_servers(admin: Callable[..., Admin], body: dict[str, object], status: int, field: str,
                         words: str) -> None:
    running = admin()
    with running.client() as api:
        response = api.post("/api/pools/p/servers", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"], response.json()
    assert len(running.pool().servers) == 1


def test_a_server_cannot_be_added_twice(admin: Callable[..., Admin]) -> None:
    running = admin()
    address = server_path(running).rsplit("/", 1)[1]
    with running.client() as api:
        response = api.post("/api/pools/p/servers", json={"address": address})
    assert response.status_code == 409
    assert response.json() == {"error": f"pool 'p' already has server {address}", "field": "address"}


def test_the_last_primary_cannot_be_removed(admin: Callable[..., Admin]) -> None:
    running = admin()
    with running.client() as api:
        response = api.delete(server_path(running))
    assert response.status_code == 409
    assert response.json()["field"] == "address"
    assert "drain it instead" in response.json()["error"]
    assert len(running.pool().servers) == 1


def test_unknown_pool_for_a_change(admin: Callable[..., Admin]) -> None:
    running = admin()
    with running.client() as api:
        response = api.put("/api/pools/nowhere/servers/127.0.0.1:9/state", json={"state": "drain"})
    assert response.status_code == 404
    assert response.json()["field"] == "pool"


def test_the_listener_keeps_serving_after_malformed_requests(admin: Callable[..., Admin]) -> None:
    running = admin()
    assert running.server.address is not None
    host, port = running.server.address
    for garbage in (b"NOT HTTP\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"):
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(garbage)
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 400"), answer
    assert httpx.get(f"{running.url}/health/live", trust_env=False).status_code == 200


def test_large_bodies_are_refused(admin: Callable[..., Admin]) -> None:
    running = admin()
    large = b'{"address": "127.0.0.1:9", "pad": "' + b"x" * 100_000 + b'"}'

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(large), 4096):
            yield large[start:start + 4096]

    with running.client() as api:
        for content in (large, chunked()):
            response = api.post("/api/pools/p/servers", content=content,
                                headers={"Content-Type": "application/json"})
            assert response.status_code == 413, response.text
            assert response.json() == {"error": "the request body is over 16384 bytes; admin bodies are "
                                                "small JSON objects", "field": "body"}
        # Refused before the token check too: no one makes laneway hold a large body.
        with running.client(token=None) as anonymous:
            assert anonymous.post("/api/pools/p/servers", content=large,
                                  headers={"Content-Type": "application/json"}).status_code == 413
        assert api.get("/health/live").status_code == 200
    assert len(running.pool().servers) == 1


def test_an_endless_request_head_is_cut_off(admin: Callable[..., Admin]) -> None:
    running = admin()
    assert running.server.address is not None
    answer = b""
    with socket.create_connection(running.server.address, timeout=5) as sock:
        try:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n")
            for index in range(1000):  # up to 1 MB of headers; the cap is far below
                sock.sendall(b"X-Pad-%d: %s\r\n" % (index, b"a" * 1000))
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            pass  # cut off while sending: what matters is that it was not read without end
        else:
            assert answer.startswith(b"HTTP/1.1 4"), answer
    assert httpx.get(f"{running.url}/health/live", trust_env=False).status_code == 200
