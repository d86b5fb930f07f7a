"""A config reload (SIGHUP) reads certificates again: new connections get the new ones, open
connections keep going; TLS cannot be switched on or off in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from laneway.config import parse_config
from tests.support.balancer import Balancer, make_config
from tests.tls.support import Pki, get_over, peer_names, tls_connect


def backend_address(running: Balancer) -> str:
    host, port = running.backend.address
    return f"{host}:{port}"


def reload(running: Balancer, document: dict[str, Any]) -> None:
    # The listener keeps its name and bind (port 0 as first written): it stays.
    running.loop.run(running.runtime.reload(parse_config(document)))


def test_a_reload_serves_new_certificates_and_keeps_open_connections(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = balancer(listener={"tls": {"certificates": [pki.pair("localhost")]}})
    with tls_connect(running.address, pki.client_context(), "localhost") as before:
        assert peer_names(before) == ["localhost"]
        assert get_over(before, "/before").startswith(b"HTTP/1.1 200 ")
        reload(running, make_config([backend_address(running)], listener={
            "tls": {"certificates": [pki.pair("localhost", "renewed.example")]},
            "timeouts": {"handshake": "2s"}}))
        with tls_connect(running.address, pki.client_context(), "localhost") as after:
            assert peer_names(after) == ["localhost", "renewed.example"]
        assert get_over(before, "/still").startswith(b"HTTP/1.1 200 ")
    listener = running.runtime.listeners[0]
    assert running.call(lambda: listener.settings.handshake_timeout) == 2.0
    assert [request.target for request in running.backend.requests] == ["/before", "/still"]


def test_turning_tls_on_in_place_is_refused_and_changes_nothing(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = balancer()
    with pytest.raises(ValueError, match="tls can only be turned on or off with a new bind"):
        reload(running, make_config([backend_address(running)],
                                    listener={"tls": {"certificates": [pki.pair("localhost")]}}))
    assert running.get("/plain").status_code == 200


def test_a_reload_can_turn_a_listener_into_a_redirect(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    assert running.get("/a").status_code == 200
    reload(running, make_config([backend_address(running)], routes=[], listener={"redirect_to_https": True}))
    response = httpx.get(f"{running.url}/b", headers={"Host": "www.example.com"}, trust_env=False)
    assert (response.status_code, response.headers["location"]) == (301, "https://www.example.com/b")
    assert [request.target for request in running.backend.requests] == ["/a"]
