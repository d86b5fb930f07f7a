"""A route's target together with the policies that are checked before a request goes on.

The router hands back a ``Guard`` instead of a bare pool or split when the route has
policies, so a route without any costs nothing more per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from laneway.policies.cache import RouteCache
from laneway.policies.compression import Compression
from laneway.policies.edits import RouteEdits
from laneway.policies.persistence import Persistence
from laneway.policies.rate_limit import RateLimiter

T = TypeVar("T")

# Whose requests a rate limit counts together.
BY_CLIENT, BY_HEADER, BY_ROUTE = "client", "header", "route"


@dataclass(eq=False, slots=True)
class Guard(Generic[T]):
    target: T
    rate_limiter: RateLimiter | None = None
    rate_key: str = BY_CLIENT  # client, header or route
    rate_header: bytes = b""  # lower case, with rate_key header
    max_body_size: int | None = None  # bytes; larger request bodies get 413
    compression: Compression | None = None  # responses compressed for clients that accept it
    persistence: Persistence | None = None  # keeps each client on one server of the pool
    cache: RouteCache | None = None  # GET and HEAD answered from a cache store when they can be
    edits: RouteEdits | None = None  # the path and headers it changes on the way through
