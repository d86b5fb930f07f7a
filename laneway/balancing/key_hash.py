"""Hash: the same key goes to the same target (a user, a session, a cache shard).

Hashes ``PickContext.hash_key``, which the proxy takes from the request as the pool's config
says (a header, a cookie, a query parameter, the path); this module never sees the request.
See ``consistent_hash`` for the ring, weights, ``bound`` and slow start. A request without the
key (empty or missing) goes to a random point on the ring, as NGINX falls back to round robin.
"""

from __future__ import annotations

from laneway.balancing.base import PickContext, T
from laneway.balancing.consistent_hash import ConsistentHash


class KeyHash(ConsistentHash[T]):
    """Consistent hashing on a key the proxy extracted from the request."""

    name = "hash"

    def _key(self, context: PickContext) -> str | None:
        return context.hash_key or None
