"""Hash on a key: the proxy's extracted key is hashed; a missing key falls back to a random point."""

from __future__ import annotations

import random
from collections import Counter

from laneway.balancing import KeyHash, PickContext
from tests.balancing.support import Server, servers


def test_the_same_key_always_reaches_the_same_server() -> None:
    balancer: KeyHash[Server] = KeyHash(random.Random(1))
    balancer.update(servers(1, 1, 1), 0.0)
    first = balancer.pick(PickContext(hash_key="session=abc"))
    assert all(balancer.pick(PickContext(hash_key="session=abc", client_address=f"10.0.0.{k}")) is first
               for k in range(50)), "only the key counts, not the address"


def test_an_empty_or_missing_key_spreads_like_weighted_random() -> None:
    pool = servers(1, 1)
    balancer: KeyHash[Server] = KeyHash(random.Random(2))
    balancer.update(pool, 0.0)
    picks = Counter(balancer.pick(PickContext(hash_key=key)) for key in ["", None] * 2000)
    assert all(1700 < count < 2300 for count in picks.values())


def test_workers_with_the_same_servers_agree_on_every_key() -> None:
    """Two balancers (two workers, two instances) built alike map keys alike, whatever their RNG."""
    pool = servers(2, 1, 3)
    one: KeyHash[Server] = KeyHash(random.Random(1))
    two: KeyHash[Server] = KeyHash(random.Random(99))
    one.update(pool, 0.0)
    two.update(list(pool), 5.0)
    keys = [f"cart-{k}" for k in range(500)]
    assert [one.pick(PickContext(hash_key=k)) for k in keys] == [
        two.pick(PickContext(hash_key=k)) for k in keys]
