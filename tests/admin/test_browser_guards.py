"""Guards against web pages the operator visits: on loopback without a token, a page must
not be able to steer laneway (cross-origin simple requests, DNS rebinding)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.admin.conftest import Admin


def server_path(running: Admin) -> str:
    host, port = running.running.backend.address
    return f"/api/pools/p/servers/{host}:{port}"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_only_with_a_json_content_type(admin: Callable[..., Admin], content_type: str | None) -> None:
    # What a page may send cross-origin without a CORS preflight: a "simple" request.
    running = admin(admin_config={"token": None})
    headers = {"Content-Type": content_type} if content_type else {}
    with running.client(token=None) as api:
        response = api.post("/api/pools/p/servers", content=b'{"address": "127.0.0.1:9"}', headers=headers)
        assert response.status_code == 422
        assert response.json() == {"error": "body: send JSON with 'Content-Type: application/json'",
                                   "field": "body"}
    assert len(running.pool().servers) == 1


def test_without_a_token_only_loopback_host_names(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"token": None})
    assert running.server.address is not None
    port = running.server.address[1]
    with running.client(token=None) as api:
        refused = api.put(server_path(running) + "/state", json={"state": "drain"},
                          headers={"Host": f"rebound.example:{port}"})
        assert refused.status_code == 403
        assert refused.json()["field"] == "Host"
        assert "'rebound.example' is not a loopback name" in refused.json()["error"]
        assert api.get("/api/servers", headers={"Host": "rebound.example"}).status_code == 403
        assert running.pool().servers[0].state == "ready"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]:9000", "localhost"):
            response = api.get("/api/servers", headers={"Host": host})
            assert response.status_code == 200, (host, response.text)


def test_with_a_token_any_host_name(admin: Callable[..., Admin]) -> None:
    running = admin()
    with running.client() as api:
        response = api.put(server_path(running) + "/state", json={"state": "drain"},
                           headers={"Host": "laneway-admin.internal"})
    assert response.status_code == 200, response.text
