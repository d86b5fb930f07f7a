"""Every balancing algorithm chosen in the config, working through the proxy end to end.

The algorithms' properties are tested in tests/balancing; these tests show the config reaches
them and the proxy tells them what they need (client address, hash key, starts and ends).
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.balancer import Balancer, wait_for


def served_by(running: Balancer, paths: list[str], **options: object) -> Counter[str]:
    counts: Counter[str] = Counter()
    with running.client() as client:
        for path in paths:
            response = client.get(path, **options)  # type: ignore[arg-type]
            assert response.status_code == 200, response.text
            counts[response.headers["x-backend"]] += 1
    return counts


@pytest.mark.parametrize("algorithm", ["round_robin", "weighted_round_robin", "least_connections",
                                       "weighted_least_connections", "least_request", "random",
                                       "least_response_time"])
def test_every_server_takes_traffic(balancer: Callable[..., Balancer], algorithm: str) -> None:
    running = balancer(3, pool={"algorithm": algorithm})
    counts = served_by(running, ["/"] * 60)
    assert sum(counts.values()) == 60
    assert len(counts) == 3, counts


def test_round_robin_is_exact(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={"algorithm": "round_robin"})
    assert sorted(served_by(running, ["/"] * 30).values()) == [10, 10, 10]


def test_weighted_round_robin_gives_each_server_its_weight(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={"algorithm": "weighted_round_robin"})
    pool = running.runtime.pools["p"]

    def set_weights() -> None:
        for server, weight in zip(pool.servers, (5, 1, 1), strict=True):
            server.weight = weight
        pool.refresh()

    running.call(set_weights)
    counts = served_by(running, ["/"] * 70)
    names = [backend.name for backend in running.backends]
    assert [counts[name] for name in names] == [50, 10, 10]


def test_ip_hash_keeps_a_client_on_one_server(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={"algorithm": "ip_hash"})
    assert len(served_by(running, ["/"] * 20)) == 1


@pytest.mark.parametrize(("hash_key", "keyed"), [
    ({"header": "X-User"}, lambda user: {"headers": {"X-User": user}}),
    ({"cookie": "sid"}, lambda user: {"headers": {"Cookie": f"theme=dark; sid={user}"}}),
    ({"query": "user"}, lambda user: {"params": {"user": user}}),
])
def test_hash_keeps_a_key_on_one_server_and_spreads_keys(
        balancer: Callable[..., Balancer], hash_key: dict[str, str],
        keyed: Callable[[str], dict[str, object]]) -> None:
    running = balancer(3, pool={"algorithm": "hash", "hash_key": hash_key})
    homes = {}
    for user in (f"user-{n}" for n in range(30)):
        counts = served_by(running, ["/"] * 3, **keyed(user))
        assert len(counts) == 1, (user, counts)
        homes[user] = next(iter(counts))
    assert len(set(homes.values())) == 3, "30 keys should land on all three servers"


def test_hash_on_the_path(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={"algorithm": "hash", "hash_key": {"path": True}})
    for path in ("/a", "/b/c", "/d?x=1"):
        assert len(served_by(running, [path] * 4)) == 1


def test_least_connections_avoids_the_server_held_by_a_long_request(
        balancer: Callable[..., Balancer]) -> None:
    """The chapter's 10-second request: while it holds one server, the others take the rest."""
    running = balancer(2, pool={"algorithm": "least_connections"})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        long_request = pool.submit(running.get, "/delay?s=1.5")
        pinned = running.backends
        # Wait until the long request is in flight at one server.
        wait_for(lambda: sum(server.in_flight for server in running.runtime.pools["p"].servers) == 1)
        busy = next(s for s in running.runtime.pools["p"].servers if s.in_flight)
        counts = served_by(running, ["/"] * 10)
        assert long_request.result(timeout=10).status_code == 200
    busy_name = next(b.name for b in pinned if f"{b.address[0]}:{b.address[1]}" == busy.key)
    assert counts[busy_name] == 0, counts
