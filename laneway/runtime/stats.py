"""Counting the whole instance when workers serve the traffic.

Each worker sends ``snapshot(runtime)`` of its pools every second. The supervisor keeps the
latest snapshot of each live worker, and the counters a dead worker had reached (so a
restart does not make a counter go back, which Prometheus would read as a reset), and
``InstanceTotals.apply`` writes their sums into the supervisor's own ``Server`` and ``Pool``
objects: the admin API, ``/metrics`` and the stats page read those exactly as they do with
one process.

Cache stores count the same way (``cache_snapshot``): hits, misses, bypasses, stored and
evicted add up, dead workers' included; entries and bytes held are the live workers' sums
(each worker keeps its own entries).

Sums: requests, failures, responses by class, response and connect time buckets and sums,
retries, error
responses, ejections and breaker openings add up; in-flight requests add up over live
workers only; a server is shown ejected when any worker ejected it, and with the most
severe breaker state any worker has for it (open, then half-open).
"""

from __future__ import annotations

from typing import Any

from laneway.http import HttpListener
from laneway.policies import Guard
from laneway.runtime.server import Runtime
from laneway.upstream import CLOSED, HALF_OPEN, OPEN, Pool

Snapshot = dict[str, Any]  # {pool: {"retries": n, "errors": {status: n}, "servers": {key: {...}}}}

BREAKER_SEVERITY = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


def snapshot(runtime: Runtime) -> Snapshot:
    """This process's counters, as JSON-ready data."""
    pools: Snapshot = {}
    for name, pool in runtime.pools.items():
        detector = runtime.outlier_detectors.get(name)
        breakers = runtime.circuit_breakers.get(name)
        pools[name] = {
            "retries": pool.retry_budget.retries_total,
            "errors": {str(status): count for status, count in pool.errors_total.items()},
            "servers": {server.key: {
                "requests": server.requests_total,
                "failures": server.failures_total,
                "bytes": server.bytes_total,
                "responses": list(server.responses),
                "latency_counts": list(server.latency_counts),
                "latency_sum": server.latency_sum,
                "connect_counts": list(server.connect_counts),
                "connect_sum": server.connect_sum,
                "in_flight": server.in_flight,
                "ejected": server.ejected,
                "breaker": server.breaker,
                "ejections": detector.ejected_total.get(server.key, 0) if detector is not None else 0,
                "breaker_opened": breakers.opened_total.get(server.key, 0) if breakers is not None else 0,
            } for server in pool.servers},
        }
    return pools


CACHE_COUNTERS = ("hits", "misses", "bypasses", "stored", "evicted")


def cache_snapshot(runtime: Runtime) -> Snapshot:
    """This process's cache store counters: {store: {counter: n, "entries": n, "size": bytes}}."""
    return {name: {**{field: getattr(store, field) for field in CACHE_COUNTERS},
                   "entries": len(store.entries), "size": store.size}
            for name, store in runtime.caches.items()}


def rate_limited(runtime: Runtime) -> dict[str, int]:
    """Requests each route's rate limit refused, by ``listener/route index``."""
    counts: dict[str, int] = {}
    for listener in runtime.listeners:
        if isinstance(listener, HttpListener):
            for index, rule in enumerate(listener.router.rules):
                guard = rule.target
                if isinstance(guard, Guard) and guard.rate_limiter is not None:
                    counts[f"{listener.name}/{index}"] = guard.rate_limiter.refused_total
    return counts


def requests_in(pools: Snapshot) -> tuple[int, int]:
    """(requests, in-flight requests) over every server of a snapshot: a worker's share."""
    requests = in_flight = 0
    for pool in pools.values():
        for server in pool["servers"].values():
            requests += server["requests"]
            in_flight += server["in_flight"]
    return requests, in_flight


# Counters that only grow: kept from workers that died. In-flight and states are not.
SERVER_COUNTERS = ("requests", "failures", "bytes", "ejections", "breaker_opened", "latency_sum",
                   "connect_sum")
SERVER_LISTS = ("responses", "latency_counts", "connect_counts")


class InstanceTotals:
    """The counters of workers that have exited, by pool and server (``retire``)."""

    def __init__(self) -> None:
        self.retired: Snapshot = {}
        self.retired_caches: Snapshot = {}
        self.retired_rate_limited: dict[str, int] = {}

    def retire(self, pools: Snapshot, caches: Snapshot, limited: dict[str, int]) -> None:
        """A worker exited: its last counters stay in the totals."""
        for route, count in limited.items():
            self.retired_rate_limited[route] = self.retired_rate_limited.get(route, 0) + count
        for name, counts in caches.items():
            kept = self.retired_caches.setdefault(name, dict.fromkeys(CACHE_COUNTERS, 0))
            for field in CACHE_COUNTERS:
                kept[field] += counts[field]
        for name, pool in pools.items():
            kept = self.retired.setdefault(name, {"retries": 0, "errors": {}, "servers": {}})
            kept["retries"] += pool["retries"]
            for status, count in pool["errors"].items():
                kept["errors"][status] = kept["errors"].get(status, 0) + count
            for key, server in pool["servers"].items():
                into = kept["servers"].setdefault(key, {})
                for field in SERVER_COUNTERS:
                    into[field] = into.get(field, 0) + server[field]
                for field in SERVER_LISTS:
                    into[field] = [a + b for a, b in zip(into.get(field) or [0] * len(server[field]),
                                                         server[field], strict=True)]

    def apply(self, runtime: Runtime, live: list[Snapshot], live_caches: list[Snapshot],
              live_limited: list[dict[str, int]]) -> None:
        """Write retired + live sums into ``runtime``'s pools, servers and cache stores, and
        its ``rate_limited_totals``."""
        limited = dict(self.retired_rate_limited)
        for part in live_limited:
            for route, count in part.items():
                limited[route] = limited.get(route, 0) + count
        runtime.rate_limited_totals = limited
        for name, store in runtime.caches.items():
            parts = [part[name] for part in [self.retired_caches, *live_caches] if name in part]
            for field in CACHE_COUNTERS:
                setattr(store, field, sum(part[field] for part in parts))
            now = [part[name] for part in live_caches if name in part]
            store.held_by_workers = sum(part["entries"] for part in now)
            store.size = sum(part["size"] for part in now)
        for name, pool in runtime.pools.items():
            parts = [self.retired.get(name)] + [snap.get(name) for snap in live]
            self._apply_pool(runtime, name, pool, [part for part in parts if part is not None],
                             [snap[name] for snap in live if name in snap])

    @staticmethod
    def _apply_pool(runtime: Runtime, name: str, pool: Pool, parts: list[Snapshot],
                    live: list[Snapshot]) -> None:
        pool.retry_budget.retries_total = sum(part["retries"] for part in parts)
        errors: dict[int, int] = {}
        for part in parts:
            for status, count in part["errors"].items():
                errors[int(status)] = errors.get(int(status), 0) + count
        pool.errors_total = errors
        detector = runtime.outlier_detectors.get(name)
        breakers = runtime.circuit_breakers.get(name)
        for server in pool.servers:
            rows = [part["servers"][server.key] for part in parts if server.key in part["servers"]]
            live_rows = [snap["servers"][server.key] for snap in live if server.key in snap["servers"]]
            server.requests_total = sum(row["requests"] for row in rows)
            server.failures_total = sum(row["failures"] for row in rows)
            server.bytes_total = sum(row["bytes"] for row in rows)
            server.latency_sum = sum(row["latency_sum"] for row in rows)
            server.responses = column_sums([row["responses"] for row in rows], len(server.responses))
            server.latency_counts = column_sums([row["latency_counts"] for row in rows],
                                                len(server.latency_counts))
            server.connect_sum = sum(row["connect_sum"] for row in rows)
            server.connect_counts = column_sums([row["connect_counts"] for row in rows],
                                                len(server.connect_counts))
            server.in_flight = sum(row["in_flight"] for row in live_rows)
            if detector is not None:
                detector.ejected_total[server.key] = sum(row["ejections"] for row in rows)
            if breakers is not None:
                breakers.opened_total[server.key] = sum(row["breaker_opened"] for row in rows)
            # Passive verdicts are each worker's own; show the worst. Through the pool's
            # setters, so its list of servers that may take traffic (readiness) agrees.
            pool.set_ejected(server, any(row["ejected"] for row in live_rows))
            breaker = max((row["breaker"] for row in live_rows), key=BREAKER_SEVERITY.__getitem__,
                          default=CLOSED)
            if breaker != server.breaker:
                pool.set_breaker(server, breaker)


def column_sums(rows: list[list[int]], width: int) -> list[int]:
    totals = [0] * width
    for row in rows:
        for index, value in enumerate(row[:width]):
            totals[index] += value
    return totals
