"""IP hash: the same client address goes to the same target (session persistence).

Hashes ``PickContext.client_address`` (the address only, not the port) onto a consistent-hash
ring; see ``consistent_hash`` for the ring, weights, ``bound`` and slow start. Clients behind
one NAT share a target; ``bound`` keeps such a crowd from sinking it. Without an address (a
Unix socket, a test), a random point on the ring.
"""

from __future__ import annotations

from laneway.balancing.base import PickContext, T
from laneway.balancing.consistent_hash import ConsistentHash


class IpHash(ConsistentHash[T]):
    """Consistent hashing on the client's address."""

    name = "ip_hash"
    reads_client_address = True

    def _key(self, context: PickContext) -> str | None:
        return context.client_address or None
