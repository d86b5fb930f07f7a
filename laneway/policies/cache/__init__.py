"""Response caching for routes (NGINX's ``proxy_cache``): named stores bounded in bytes,
RFC 9111 freshness, Vary, and one request to a server for many clients asking at once."""

from __future__ import annotations

from dataclasses import dataclass

from laneway.policies.cache.freshness import STORABLE, decide
from laneway.policies.cache.store import (
    INVALIDATE,
    LOOKUP,
    PASS,
    REFRESH,
    CacheStore,
    Entry,
    Fill,
    Key,
    header_in,
)


@dataclass(frozen=True, slots=True)
class RouteCache:
    """A route's caching: which store, default lifetimes, what else goes into the key."""

    store: CacheStore
    valid: dict[int, float]  # status -> seconds, when the server gives no freshness (0: any status)
    key_headers: tuple[bytes, ...] = ()  # lower case
    lock: bool = True  # concurrent misses for one key wait for the first (proxy_cache_lock)
    lock_timeout: float = 5.0  # then they go to a server themselves


__all__ = ["INVALIDATE", "LOOKUP", "PASS", "REFRESH", "STORABLE", "CacheStore", "Entry", "Fill", "Key",
           "RouteCache", "decide", "header_in"]
