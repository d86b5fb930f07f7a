"""IP hash: the client address is the key, on the consistent ring."""

from __future__ import annotations

import random
from collections import Counter

from laneway.balancing import IpHash, PickContext
from tests.balancing.support import Server, servers


def test_the_same_client_always_reaches_the_same_server() -> None:
    balancer: IpHash[Server] = IpHash(random.Random(1))
    balancer.update(servers(1, 1, 1, 1), 0.0)
    first = balancer.pick(PickContext(client_address="192.168.1.100"))
    assert all(balancer.pick(PickContext(client_address="192.168.1.100", hash_key=str(k))) is first
               for k in range(50)), "only the address counts, not the hash key"


def test_many_clients_spread_over_the_servers() -> None:
    balancer: IpHash[Server] = IpHash(random.Random(1))
    balancer.update(servers(1, 1, 1, 1), 0.0)
    picks = Counter(balancer.pick(PickContext(client_address=f"10.{k // 65536}.{k // 256 % 256}.{k % 256}"))
                    for k in range(8000))
    assert all(1500 < count < 2500 for count in picks.values())


def test_a_crowd_behind_one_nat_is_spread_by_the_bound() -> None:
    pool = servers(1, 1, 1)
    balancer: IpHash[Server] = IpHash(random.Random(1), bound=1.25)
    balancer.update(pool, 0.0)
    for _ in range(30):
        target = balancer.pick(PickContext(client_address="203.0.113.7"))
        assert target is not None
        balancer.on_start(target, 0.0)
    loads = sorted(balancer.in_flight(t) for t in pool)
    assert loads[-1] <= 13 and loads[0] > 0  # ceil(1.25 * 30 / 3) = 13
