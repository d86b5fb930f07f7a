"""Routers built from config documents, and requests made by hand, for the matcher's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from laneway.config import parse_config
from laneway.routing import GeoIP, Router, parse_client_address
from laneway.routing.request import Address
from laneway.runtime.pools import build_pool
from laneway.runtime.routes import build_router
from laneway.upstream import Pool

POOL_NAMES = ("a", "b", "c", "d", "web")


def make_router(routes: list[dict[str, Any]], *, secret: bytes | None = None, geoip: GeoIP | None = None,
                **listener: Any) -> tuple[Router, dict[str, Pool]]:
    """A router for one listener with ``routes`` over pools a, b, c, d and web."""
    document: dict[str, Any] = {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": routes, **listener}],
        "pools": {name: {"servers": [{"address": f"127.0.0.1:{9000 + index}"}]}
                  for index, name in enumerate(POOL_NAMES)},
    }
    if geoip is not None:
        document["geoip"] = {"database": geoip.path}
    config = parse_config(document)
    pools = {name: build_pool(name, pool) for name, pool in config.pools.items()}
    return build_router(config.listeners[0], pools, secret=secret, geoip=geoip), pools


@dataclass
class FakeRequest:
    """A request head as the client connection holds it (``laneway.routing.Request``)."""

    headers: list[bytes] = field(default_factory=list)
    upgrade: bytes | None = None
    forwarded_for: bytes | None = None
    content_length: bytes | None = None
    transfer_encoding: bytes | None = None
    peer_address: Address | None = None
    country: str | None = None


def request(headers: dict[str, str] | list[tuple[str, str]] | None = None, *,
            client: str | None = None, upgrade: str | None = None, country: str | None = None) -> FakeRequest:
    pairs = list(headers.items()) if isinstance(headers, dict) else headers or []
    return FakeRequest(headers=[f"{name}: {value}\r\n".encode() for name, value in pairs],
                       upgrade=upgrade.encode() if upgrade else None,
                       peer_address=parse_client_address(client), country=country)


def pool_of(router: Router, url: str = "/", host: str = "www.example", method: str = "GET",
            req: FakeRequest | None = None) -> str | None:
    """The name of the pool a request goes to, or None (a 404)."""
    target = router.route(host.encode(), url.encode(), method.encode(), req or FakeRequest())
    if target is None:
        return None
    assert isinstance(target, Pool), "a split route: use Split.choose"
    return target.name
