"""A closed connection is freed by reference counting alone, never left to the garbage
collector: each cycle it left would be freed only by a collection pass, whose time lands in
the latency of whichever request meets it (the Connection: close scenario makes thousands a
second)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from laneway.http.client import ClientConnection
from laneway.http.upstream import UpstreamConnection
from tests.support.balancer import Balancer
from tests.support.cycles import in_cycles

CONNECTIONS = (ClientConnection, UpstreamConnection)


def test_connections_closed_by_clients_and_by_servers_leave_no_cycles(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    in_cycles(*CONNECTIONS)
    for _ in range(20):
        # A new client connection per request; the server ends each body by closing.
        with httpx.Client(base_url=running.url, trust_env=False) as client:
            response = client.get("/until-close?n=10", headers={"Connection": "close"})
            assert response.status_code == 200
    running.probe()
    closed_by_server = running.backend.requests
    assert len(closed_by_server) >= 20
    assert in_cycles(*CONNECTIONS) == []
