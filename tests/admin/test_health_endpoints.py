"""/health/live and /health/ready on a real admin port, while laneway serves traffic."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from tests.admin.conftest import Admin
from tests.support.balancer import wait_for


def test_live_answers_without_a_token(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"read_requires_token": True})
    response = running.get("/health/live", token=None)
    assert response.status_code == 200
    assert response.json() == {"live": True}


def test_ready_when_every_pool_has_a_server(admin: Callable[..., Admin]) -> None:
    running = admin(2, pools_of_backends={"p": [0], "api": [1]})
    response = running.get("/health/ready", token=None)
    assert response.status_code == 200, response.text
    assert response.json() == {"ready": True, "reasons": [], "pools_without_servers": []}


def test_not_ready_while_a_pool_has_no_server_and_ready_again(admin: Callable[..., Admin]) -> None:
    running = admin(2, pools_of_backends={"p": [0], "api": [1]})
    api = running.pool("api")
    [server] = api.servers
    running.running.call(api.set_state, server, "maintenance")

    response = running.get("/health/ready", token=None)
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["pools_without_servers"] == ["api"]
    assert body["reasons"] == ["no server may take traffic in pool api"]
    # The proxy itself keeps serving the other pool meanwhile.
    assert running.running.get("/").status_code == 200

    running.running.call(api.set_state, server, "ready")
    assert running.get("/health/ready", token=None).status_code == 200


def test_not_ready_first_when_shutting_down(admin: Callable[..., Admin]) -> None:
    running = admin()
    proxy = running.running
    answered: list[int] = []
    # A held request keeps the shutdown in its grace period while readiness is asked.
    with proxy.client() as client:
        held = threading.Thread(target=lambda: answered.append(client.get("/?hold=1").status_code))
        held.start()
        wait_for(lambda: proxy.backend.holding, message="the request held by the backend")
        proxy.begin_shutdown(grace=5.0)
        response = running.get("/health/ready", token=None)
        assert response.status_code == 503
        assert response.json()["reasons"] == ["laneway is shutting down"]
        assert running.get("/health/live", token=None).status_code == 200
        proxy.backend.release()
        held.join(10.0)
    assert answered == [200], "the request under way still finishes"


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_admin_on_ipv6_loopback(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"bind": "[::1]:0", "token": None})
    assert running.url.startswith("http://[::1]:")
    assert running.get("/health/ready", token=None).status_code == 200
