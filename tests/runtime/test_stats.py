"""Adding up the workers' counters into the supervisor's servers."""

from __future__ import annotations

from laneway.config import parse_config
from laneway.runtime.pools import build_pool
from laneway.runtime.routes import build_caches
from laneway.runtime.server import Runtime
from laneway.runtime.stats import InstanceTotals, cache_snapshot, requests_in, snapshot
from laneway.upstream import HALF_OPEN, OPEN

SERVERS = ["127.0.0.1:9001", "127.0.0.1:9002"]


def runtime() -> Runtime:
    """A runtime with its pool and cache store built (not started: no loop, no listeners)."""
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "p"}]}],
                           "pools": {"p": {"servers": [{"address": address} for address in SERVERS]}},
                           "caches": {"pages": {"max_size": "1MiB"}}})
    built = Runtime(config, listen=False)
    built.pools = {"p": build_pool("p", config.pools["p"])}
    built.caches = build_caches(config.caches)
    return built


def worker(requests: int, *, in_flight: int = 0, latency_bucket: int = 0) -> Runtime:
    """A worker's runtime that sent ``requests`` to the first server, all answered 200."""
    served = runtime()
    pool = served.pools["p"]
    server = pool.servers[0]
    server.requests_total = requests
    server.responses[2] = requests
    server.latency_counts[latency_bucket] = requests
    server.latency_sum = requests * 0.001
    server.connect_counts[1] = 1
    server.connect_sum = 0.007
    server.in_flight = in_flight
    pool.retry_budget.retries_total = 1
    pool.errors_total = {502: 1}
    return served


def test_live_workers_add_up() -> None:
    supervisor, totals = runtime(), InstanceTotals()
    totals.apply(supervisor, [snapshot(worker(3, in_flight=1)),
                              snapshot(worker(4, in_flight=2, latency_bucket=5))], [], [])
    pool = supervisor.pools["p"]
    server = pool.servers[0]
    assert server.requests_total == 7
    assert server.responses[2] == 7
    assert server.in_flight == 3
    assert (server.latency_counts[0], server.latency_counts[5]) == (3, 4)
    assert abs(server.latency_sum - 0.007) < 1e-9
    assert (server.connect_counts[1], server.connect_sum) == (2, 0.014)
    assert pool.retry_budget.retries_total == 2
    assert pool.errors_total == {502: 2}
    assert pool.servers[1].requests_total == 0


def test_a_dead_workers_counts_stay_but_not_its_requests_in_flight() -> None:
    supervisor, totals = runtime(), InstanceTotals()
    dead, live = snapshot(worker(5, in_flight=2)), snapshot(worker(1, in_flight=1))
    totals.apply(supervisor, [dead, live], [], [])
    totals.retire(dead, {}, {})
    totals.apply(supervisor, [live, snapshot(worker(0))], [], [])  # its slot runs a fresh worker
    server = supervisor.pools["p"].servers[0]
    assert server.requests_total == 6, "counters never go back when a worker is replaced"
    assert server.in_flight == 1
    assert requests_in(live) == (1, 1)


def test_the_worst_passive_verdict_of_any_worker_shows() -> None:
    supervisor, totals = runtime(), InstanceTotals()
    ejecting, opening, calm = worker(1), worker(1), worker(1)
    ejecting.pools["p"].set_ejected(ejecting.pools["p"].servers[1], True)
    opening.pools["p"].set_breaker(opening.pools["p"].servers[0], OPEN)
    calm.pools["p"].set_breaker(calm.pools["p"].servers[0], HALF_OPEN)
    totals.apply(supervisor, [snapshot(calm), snapshot(ejecting), snapshot(opening)], [], [])
    first, second = supervisor.pools["p"].servers
    assert second.ejected and first.breaker == OPEN
    assert supervisor.pools["p"].available == []
    totals.apply(supervisor, [snapshot(worker(1))], [], [])
    assert not second.ejected and first.breaker == "closed"
    assert len(supervisor.pools["p"].available) == 2


def test_cache_counters_add_up_and_entries_are_the_live_workers() -> None:
    supervisor, totals = runtime(), InstanceTotals()
    first, second = worker(0), worker(0)
    for served, hits, entries in ((first, 5, 2), (second, 3, 1)):
        store = served.caches["pages"]
        store.hits, store.misses, store.stored, store.size = hits, 1, entries, entries * 1000
        store.entries.update({(("k", n), ()): None for n in range(entries)})  # type: ignore[misc]
    caches = [cache_snapshot(first), cache_snapshot(second)]
    totals.apply(supervisor, [snapshot(first), snapshot(second)], caches, [])
    store = supervisor.caches["pages"]
    assert (store.hits, store.misses, store.stored) == (8, 2, 3)
    assert (len(store), store.size) == (3, 3000)
    totals.retire(snapshot(first), caches[0], {})
    totals.apply(supervisor, [snapshot(second)], [caches[1]], [])
    assert store.hits == 8, "a dead worker's hits stay counted"
    assert (len(store), store.size) == (1, 1000), "its entries went with it"


def test_rate_limit_refusals_and_bytes_add_up_and_outlive_their_worker() -> None:
    supervisor, totals = runtime(), InstanceTotals()
    first, second = worker(1), worker(1)
    first.pools["p"].servers[0].bytes_total, second.pools["p"].servers[0].bytes_total = 100, 50
    totals.apply(supervisor, [snapshot(first), snapshot(second)], [],
                 [{"web/0": 3}, {"web/0": 2, "web/1": 1}])
    assert supervisor.rate_limited_totals == {"web/0": 5, "web/1": 1}
    assert supervisor.pools["p"].servers[0].bytes_total == 150
    totals.retire(snapshot(first), {}, {"web/0": 3})
    totals.apply(supervisor, [snapshot(second)], [], [{"web/0": 2, "web/1": 1}])
    assert supervisor.rate_limited_totals == {"web/0": 5, "web/1": 1}
    assert supervisor.pools["p"].servers[0].bytes_total == 150
