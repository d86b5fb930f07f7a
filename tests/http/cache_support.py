"""What the cache tests share: a laneway caching everything in front of a backend that counts
the requests it really gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from tests.support.balancer import Balancer


def caching(balancer: Callable[..., Balancer], *, store: dict[str, Any] | None = None,
            pool: dict[str, Any] | None = None, **cache: Any) -> Balancer:
    """Everything cached in store ``pages`` (1 MiB unless ``store`` says otherwise)."""
    return balancer(1, routes=[{"pool": "p", "cache": {"store": "pages", **cache}}], pool=pool,
                    top={"caches": {"pages": store or {"max_size": "1MiB"}}})


def seen(running: Balancer, target: str) -> int:
    """Requests for ``target`` the backend has received."""
    return sum(1 for request in running.backend.requests if request.target == target)


def request(method: str, target: str) -> str:
    return f"{method} {target} HTTP/1.1\r\nHost: site.test\r\n\r\n"


def with_headers(*fields: str) -> str:
    """A target the backend answers "ok" with these response header fields ("Name:value")."""
    return "/response-headers?" + "&".join(f"h={quote(field, safe=':=,')}" for field in fields)


def get(running: Balancer, target: str, **headers: str) -> httpx.Response:
    return running.get(target, headers={"Host": "site.test", **headers})
