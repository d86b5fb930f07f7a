"""``/metrics``: Prometheus text format, collected at scrape time.

Nothing is counted for metrics on the request path beyond the counters servers keep anyway
(``requests_total``, ``failures_total``, ``responses`` by status class, ``in_flight``): a
custom collector reads them, and the health, breaker and retry state, when Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from laneway.admin.views import readiness
from laneway.runtime.server import Runtime
from laneway.runtime.stats import rate_limited
from laneway.runtime.supervisor import Supervisor
from laneway.upstream import CLOSED, DRAIN, HALF_OPEN, LATENCY_BOUNDS, MAINTENANCE, OPEN, READY

SERVER_LABELS = ["pool", "server"]
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)
OPERATOR_STATES = (READY, DRAIN, MAINTENANCE)
# Index in Server.responses (status // 100) -> the class label; 0 counts requests that got
# no response from the server (refused, reset, timed out, or the client left first).
STATUS_CLASSES = ((1, "1xx"), (2, "2xx"), (3, "3xx"), (4, "4xx"), (5, "5xx"))
BUCKET_LABELS = (*(repr(bound) for bound in LATENCY_BOUNDS), "+Inf")


def cumulative_buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    """A server's latency counts as Prometheus' cumulative ``le`` buckets."""
    buckets, total = [], 0
    for label, count in zip(BUCKET_LABELS, counts, strict=True):
        total += count
        buckets.append((label, float(total)))
    return buckets


class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        requests = CounterMetricFamily("laneway_server_requests", "Requests sent to the server "
                                       "(each try of a retried request counts).", labels=SERVER_LABELS)
        failures = CounterMetricFamily("laneway_server_failures", "Requests to the server that failed: no "
                                       "answer, or a status the pool counts as a failure.",
                                       labels=SERVER_LABELS)
        responses = CounterMetricFamily("laneway_server_responses", "Responses from the server, by status "
                                        "class.", labels=[*SERVER_LABELS, "code"])
        in_flight = GaugeMetricFamily("laneway_server_requests_in_flight", "Requests to the server under "
                                      "way now.", labels=SERVER_LABELS)
        weight = GaugeMetricFamily("laneway_server_weight", "The server's weight.", labels=SERVER_LABELS)
        up = GaugeMetricFamily("laneway_server_up", "1 when active health checks find the server up.",
                               labels=SERVER_LABELS)
        ejected = GaugeMetricFamily("laneway_server_ejected", "1 while passive checks keep the server out.",
                                    labels=SERVER_LABELS)
        takes_traffic = GaugeMetricFamily("laneway_server_takes_traffic", "1 when new requests may go to "
                                          "the server.", labels=SERVER_LABELS)
        breaker = GaugeMetricFamily("laneway_server_breaker_state", "1 for the circuit breaker's current "
                                    "state.", labels=[*SERVER_LABELS, "state"])
        operator = GaugeMetricFamily("laneway_server_operator_state", "1 for the state the operator set.",
                                     labels=[*SERVER_LABELS, "state"])
        ejections = CounterMetricFamily("laneway_server_ejections", "Times passive checks ejected the "
                                        "server.", labels=SERVER_LABELS)
        breaker_opened = CounterMetricFamily("laneway_server_breaker_opened", "Times the server's circuit "
                                             "breaker opened.", labels=SERVER_LABELS)
        durations = HistogramMetricFamily("laneway_response_duration_seconds", "Time from a request's "
                                          "start to the end of its response from the server.",
                                          labels=SERVER_LABELS)
        connects = HistogramMetricFamily("laneway_connect_duration_seconds", "Time to open a connection "
                                         "to the server (TCP, and TLS when the pool uses it); on tcp "
                                         "listeners the only latency laneway sees.", labels=SERVER_LABELS)
        retries = CounterMetricFamily("laneway_pool_retries", "Requests sent again to another server.",
                                      labels=["pool"])
        errors = CounterMetricFamily("laneway_pool_error_responses", "Error responses laneway answered "
                                     "itself: 502 no connection or a broken answer, 503 no server may "
                                     "take the request, 504 no answer in time.", labels=["pool", "code"])
        available = GaugeMetricFamily("laneway_pool_servers_available", "Servers that may take traffic.",
                                      labels=["pool"])
        for name, pool in runtime.pools.items():
            detector = runtime.outlier_detectors.get(name)
            breakers = runtime.circuit_breakers.get(name)
            retries.add_metric([name], pool.retry_budget.retries_total)
            available.add_metric([name], len(pool.available))
            for status, count in sorted(pool.errors_total.items()):
                errors.add_metric([name, str(status)], count)
            for server in pool.servers:
                labels = [name, server.key]
                requests.add_metric(labels, server.requests_total)
                failures.add_metric(labels, server.failures_total)
                for index, code in STATUS_CLASSES:
                    responses.add_metric([*labels, code], server.responses[index])
                in_flight.add_metric(labels, server.in_flight)
                durations.add_metric(labels, cumulative_buckets(server.latency_counts), server.latency_sum)
                connects.add_metric(labels, cumulative_buckets(server.connect_counts), server.connect_sum)
                weight.add_metric(labels, server.weight)
                up.add_metric(labels, int(server.up))
                ejected.add_metric(labels, int(server.ejected))
                takes_traffic.add_metric(labels, int(server.takes_traffic))
                for state in BREAKER_STATES:
                    breaker.add_metric([*labels, state], int(server.breaker == state))
                for state in OPERATOR_STATES:
                    operator.add_metric([*labels, state], int(server.state == state))
                if detector is not None:
                    ejections.add_metric(labels, detector.ejected_total.get(server.key, 0))
                if breakers is not None:
                    breaker_opened.add_metric(labels, breakers.opened_total.get(server.key, 0))
        ready = GaugeMetricFamily("laneway_ready", "1 when /health/ready answers 200.")
        ready.add_metric([], int(readiness(runtime).ready))
        yield from (requests, failures, responses, in_flight, durations, connects, weight, up, ejected,
                    takes_traffic, breaker, operator, ejections, breaker_opened, retries, errors, available,
                    ready)
        yield from cache_metrics(runtime)
        limited = CounterMetricFamily("laneway_route_rate_limited", "Requests a route's rate limit refused "
                                      "(answered 429).", labels=["listener", "route"])
        counts = runtime.rate_limited_totals
        for route, count in sorted((rate_limited(runtime) if counts is None else counts).items()):
            listener, _, number = route.rpartition("/")
            limited.add_metric([listener, number], count)
        yield limited
        sent = CounterMetricFamily("laneway_server_response_bytes", "Bytes of the server's responses written "
                                   "to clients (heads and bodies, as sent).", labels=SERVER_LABELS)
        for name, pool in runtime.pools.items():
            for server in pool.servers:
                sent.add_metric([name, server.key], server.bytes_total)
        yield sent


def cache_metrics(runtime: Runtime) -> Iterator[Metric]:
    """Per cache store: what it answered, what it holds."""
    labels = ["store"]
    hits = CounterMetricFamily("laneway_cache_hits", "Requests answered from the cache store.", labels=labels)
    misses = CounterMetricFamily("laneway_cache_misses", "Requests on a cached route that went to a server "
                                 "and might be stored.", labels=labels)
    bypasses = CounterMetricFamily("laneway_cache_bypasses", "Requests whose client asked for a fresh "
                                   "answer (Cache-Control no-cache or no-store).", labels=labels)
    stored = CounterMetricFamily("laneway_cache_stored", "Responses put into the cache store.", labels=labels)
    evicted = CounterMetricFamily("laneway_cache_evictions", "Entries pushed out to stay within max_size.",
                                  labels=labels)
    size = GaugeMetricFamily("laneway_cache_size_bytes", "Bytes the entries take now.", labels=labels)
    entries = GaugeMetricFamily("laneway_cache_entries", "Responses stored now.", labels=labels)
    for name, store in runtime.caches.items():
        hits.add_metric([name], store.hits)
        misses.add_metric([name], store.misses)
        bypasses.add_metric([name], store.bypasses)
        stored.add_metric([name], store.stored)
        evicted.add_metric([name], store.evicted)
        size.add_metric([name], store.size)
        entries.add_metric([name], len(store))
    yield from (hits, misses, bypasses, stored, evicted, size, entries)


class WorkerCollector(Collector):
    """The worker processes of ``workers: N``, by slot (the ``process_...`` metrics are the
    supervisor's own)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("laneway_worker_up", "1 while the worker process of the slot runs.",
                               labels=["slot"])
        restarts = CounterMetricFamily("laneway_worker_restarts", "Times the slot's worker died and was "
                                       "started again.", labels=["slot"])
        memory = GaugeMetricFamily("laneway_worker_resident_memory_bytes", "The worker's resident memory.",
                                   labels=["slot"])
        for status in self.supervisor.statuses():
            slot = [str(status.slot)]
            up.add_metric(slot, int(status.alive))
            restarts.add_metric(slot, status.restarts)
            if status.memory_bytes is not None:
                memory.add_metric(slot, status.memory_bytes)
        yield from (up, restarts, memory)


def metrics_registry(runtime: Runtime, supervisor: Supervisor | None = None) -> CollectorRegistry:
    """A registry of its own, not prometheus_client's global one: two runtimes in one
    process (as in tests) each report only themselves. The process collector adds memory,
    CPU and open files (``process_...``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    if supervisor is not None:
        registry.register(WorkerCollector(supervisor))
    ProcessCollector(registry=registry)
    return registry


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
