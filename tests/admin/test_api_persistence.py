"""The admin API shows each route's persistence: its kind, the cookie's name (never its
secret) and how many client addresses a stick table holds now."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.admin.conftest import Admin


def test_routes_show_their_persistence(admin: Callable[..., Admin]) -> None:
    running = admin(2, routes=[
        {"match": {"path_prefix": "/shop/"}, "pool": "p",
         "persistence": {"cookie": {"name": "srv", "secret": "a-persistence-secret-0123"}}},
        {"match": {"path_prefix": "/app/"}, "pool": "p", "persistence": {"source": True}},
        {"pool": "p"}])
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.3"):
        transport = httpx.HTTPTransport(local_address=address)
        with running.running.client(transport=transport) as client:
            assert client.get("/app/").status_code == 200
    shop, app, plain = running.get("/api/routes").json()
    assert shop["persistence"] == {"kind": "cookie", "cookie": "srv", "entries": None}
    assert app["persistence"] == {"kind": "source", "cookie": None, "entries": 2}
    assert plain["persistence"] is None
    assert "a-persistence-secret" not in running.get("/api/listeners").text
