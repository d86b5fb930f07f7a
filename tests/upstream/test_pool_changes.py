"""Pool.add_server, remove_server and set_weight keep the algorithm in step at once."""

from __future__ import annotations

from collections import Counter

import pytest

from laneway.balancing import PickContext, create
from laneway.upstream import Pool, Server


class FakeConnection:
    def __init__(self) -> None:
        self.idle_since = 0.0
        self.closed = False

    def is_open(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


def pool_of(*names: str, algorithm: str = "weighted_round_robin") -> Pool:
    servers = [Server(name, "127.0.0.1", 1000 + index) for index, name in enumerate(names)]
    return Pool("p", servers, create(algorithm), clock=lambda: 0.0)


def picks(pool: Pool, count: int) -> Counter[str]:
    chosen: Counter[str] = Counter()
    for _ in range(count):
        server = pool.pick(PickContext())
        assert server is not None
        chosen[server.key] += 1
    return chosen


def test_set_weight() -> None:
    pool = pool_of("a", "b")
    assert picks(pool, 4) == {"a": 2, "b": 2}
    pool.set_weight(pool.servers[0], 3)
    assert picks(pool, 8) == {"a": 6, "b": 2}
    with pytest.raises(ValueError, match="weight must be >= 1, got 0"):
        pool.set_weight(pool.servers[0], 0)


def test_add_server_takes_traffic_at_once() -> None:
    pool = pool_of("a")
    added = Server("c", "127.0.0.1", 2000, weight=2)
    pool.add_server(added)
    assert added.pool is pool
    assert pool.available == [pool.servers[0], added]
    assert picks(pool, 3) == {"a": 1, "c": 2}
    with pytest.raises(ValueError, match="already has server c"):
        pool.add_server(Server("c", "127.0.0.1", 2000))


def test_removed_server_gets_nothing_and_its_connections_close() -> None:
    pool = pool_of("a", "b")
    removed = pool.servers[1]
    idle, in_use = FakeConnection(), FakeConnection()
    removed.connections.give_back(idle, 0.0)
    pool.remove_server(removed)
    assert pool.servers == [pool.servers[0]]
    assert idle.closed, "idle connections to it are closed at once"
    assert picks(pool, 4) == {"a": 4}
    # A request under way to it ends: its connection is closed, not kept for reuse.
    removed.connections.give_back(in_use, 1.0)
    assert in_use.closed
    assert removed.connections.idle == []


def test_server_lookup() -> None:
    pool = pool_of("a", "b")
    assert pool.server("b") is pool.servers[1]
    assert pool.server("z") is None
