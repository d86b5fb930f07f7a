"""What the admin API shows: the runtime's live state as JSON models (their schemas go
into /openapi.json). Read on the loop thread, so each view is one consistent moment."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field

from laneway.config.schema import HeaderEdits
from laneway.http import HttpListener
from laneway.policies import CookiePersistence, Guard, SourcePersistence
from laneway.runtime.server import Runtime
from laneway.runtime.supervisor import WorkerStatus, resident_memory
from laneway.upstream import Pool, Server, quantile

OperatorState = Literal["ready", "drain", "maintenance"]


class LastCheck(BaseModel):
    ok: bool
    reason: str = Field(description="what the check found, e.g. 'status 200' or 'connection refused'")
    at: float = Field(description="when it ended, in seconds since the Unix epoch")
    duration: float = Field(description="seconds the check took")


class LatencyView(BaseModel):
    count: int = Field(description="responses timed since laneway started")
    p50: float | None = Field(description="median response time in seconds, estimated from the "
                                          "histogram buckets; null before the first response")
    p90: float | None
    p99: float | None


def latency_view(counts: list[int]) -> LatencyView:
    """``counts``: a copy of the server's, so that the three estimates agree."""
    return LatencyView(count=sum(counts), p50=quantile(counts, 0.5), p90=quantile(counts, 0.9),
                       p99=quantile(counts, 0.99))


class ServerView(BaseModel):
    pool: str
    address: str
    weight: int
    backup: bool
    state: OperatorState = Field(description="the operator's say: ready, drain or maintenance")
    health: Literal["up", "down"] = Field(description="the active health checks' verdict")
    ejected: bool = Field(description="taken out by passive checks (outlier_detection)")
    breaker: Literal["closed", "open", "half_open"] = Field(description="the circuit breaker's state")
    takes_traffic: bool = Field(description="every verdict above lets new requests go to it")
    in_flight: int = Field(description="requests under way now")
    requests_total: int = Field(description="requests sent to it since laneway started")
    failures_total: int = Field(description="requests to it that failed (no answer, or a failure status)")
    latency: LatencyView = Field(description="response times (request start to response end); "
                                             "none on tcp listeners, see connect")
    connect: LatencyView = Field(description="times to open a connection to the server (TCP, and TLS "
                                             "when the pool uses it)")
    last_check: LastCheck | None = Field(description="the last active health check; null without checks")


class PoolView(BaseModel):
    name: str
    algorithm: str
    servers: list[ServerView]
    available: list[str] = Field(description="addresses of the servers that may take traffic now")
    health_checked: bool
    retries_total: int = Field(description="requests sent again to another server")
    error_responses: dict[str, int] = Field(description="error responses laneway answered itself, by "
                                                        "status: 502, 503 (no server), 504")


class SplitArmView(BaseModel):
    pool: str
    weight: int


class PersistenceView(BaseModel):
    kind: Literal["cookie", "source"] = Field(description="cookie insertion, or a stick table by client "
                                                          "address")
    cookie: str | None = Field(description="cookie: the cookie's name (its secret is never shown)")
    entries: int | None = Field(description="source: client addresses remembered now, over the "
                                            "route's pools (null with workers: each has its own)")


class RespondView(BaseModel):
    status: int
    content_type: str
    body_bytes: int = Field(description="the body's length (the body itself is in the config)")
    headers: list[str] = Field(description="names of the headers it adds")


class RedirectView(BaseModel):
    location: str = Field(description="as written, variables unexpanded")
    status: int


class HeaderEditsView(BaseModel):
    """Names only: a value laneway sets may be a credential (an Authorization for the server)."""

    add: list[str]
    set: list[str]
    remove: list[str]


class RouteView(BaseModel):
    listener: str
    index: int = Field(description="position in the listener's routes; the first match wins")
    match: dict[str, Any] = Field(description="the conditions given, in the config's full form")
    pool: str | None = Field(description="the pool it sends to; null for a split, respond or redirect")
    split: list[SplitArmView] | None = Field(description="the pools of a weighted split")
    sticky_cookie: str | None = Field(description="the cookie that keeps a client on its split arm")
    persistence: PersistenceView | None = Field(description="keeps each client on one server")
    respond: RespondView | None = Field(default=None, description="the fixed response laneway gives itself")
    redirect: RedirectView | None = Field(default=None, description="the redirect laneway gives itself")
    rate_limit: dict[str, Any] | None = Field(default=None, description="as in the config, full form")
    max_body_size: int | None = Field(default=None, description="bytes; larger request bodies get 413")
    compression: dict[str, Any] | None = Field(default=None, description="as in the config, full form")
    cache: dict[str, Any] | None = Field(default=None, description="as in the config, full form")
    rewrite: dict[str, Any] | None = Field(default=None, description="the path rewrite, as in the config")
    request_headers: HeaderEditsView | None = Field(default=None, description="headers changed on requests")
    response_headers: HeaderEditsView | None = Field(default=None,
                                                     description="headers changed on responses")


class ListenerView(BaseModel):
    name: str
    bind: str = Field(description="as written in the config")
    address: str | None = Field(description="host:port it listens on (a real port when bind asked for 0)")
    protocol: str
    tls: bool = Field(description="http: terminates TLS (HTTPS)")
    routes: list[RouteView]
    default_pool: str | None = Field(description="http: where a request no route matches goes")
    pool: str | None = Field(description="tcp: the pool every connection goes to, without routes")


class CacheView(BaseModel):
    name: str
    entries: int = Field(description="responses stored now")
    size: int = Field(description="bytes the entries take (bodies, fields and bookkeeping)")
    max_size: int
    max_entry_size: int
    hits: int = Field(description="requests answered from the store")
    misses: int = Field(description="requests that went to a server and might have been stored")
    bypasses: int = Field(description="requests whose client asked for a fresh answer (no-cache, no-store)")
    stored: int = Field(description="responses put into the store")
    evicted: int = Field(description="entries pushed out to stay within max_size")


def cache_views(runtime: Runtime) -> list[CacheView]:
    return [CacheView(name=name, entries=len(store), size=store.size, max_size=store.max_size,
                      max_entry_size=store.max_entry_size, hits=store.hits, misses=store.misses,
                      bypasses=store.bypasses, stored=store.stored, evicted=store.evicted)
            for name, store in runtime.caches.items()]


class WorkerView(BaseModel):
    slot: int = Field(description="the worker's place, 0 to workers - 1; a restarted worker keeps it")
    pid: int | None = Field(description="its process id; null while it is being started again")
    alive: bool
    started_at: float | None = Field(description="when its process started, in seconds since the Unix epoch")
    restarts: int = Field(description="times the slot's worker died and was started again")
    requests_total: int = Field(description="requests it sent to servers, since its process started "
                                            "(as of its last report, at most a second old)")
    in_flight: int = Field(description="requests it has under way")
    memory_bytes: int | None = Field(description="its resident memory (RSS) in bytes; null where the "
                                                 "system does not tell")


def worker_views(runtime: Runtime, statuses: list[WorkerStatus] | None) -> list[WorkerView]:
    """With ``workers: 1`` (``statuses`` None) the one process serving is this one."""
    if statuses is None:
        servers = [server for pool in runtime.pools.values() for server in pool.servers]
        return [WorkerView(slot=0, pid=os.getpid(), alive=True, started_at=None, restarts=0,
                           requests_total=sum(server.requests_total for server in servers),
                           in_flight=sum(server.in_flight for server in servers),
                           memory_bytes=resident_memory(os.getpid()))]
    return [WorkerView(slot=status.slot, pid=status.pid, alive=status.alive, started_at=status.started_at,
                       restarts=status.restarts, requests_total=status.requests_total,
                       in_flight=status.in_flight, memory_bytes=status.memory_bytes) for status in statuses]


class Readiness(BaseModel):
    ready: bool
    reasons: list[str] = Field(description="why laneway is not ready; empty when it is")
    pools_without_servers: list[str] = Field(description="pools with no server that may take traffic")


class Liveness(BaseModel):
    live: bool


def server_view(runtime: Runtime, pool: Pool, server: Server) -> ServerView:
    checker = runtime.health_checkers.get(pool.name)
    record = checker.last_check.get(server.key) if checker is not None else None
    last = (LastCheck(ok=record.ok, reason=record.reason, at=record.at, duration=record.duration)
            if record is not None else None)
    return ServerView(
        pool=pool.name, address=server.key, weight=server.weight, backup=server.backup,
        state=server.state,  # type: ignore[arg-type]  # one of the three, set by Pool.set_state
        health="up" if server.up else "down", ejected=server.ejected,
        breaker=server.breaker,  # type: ignore[arg-type]  # set by Pool.set_breaker
        takes_traffic=server.takes_traffic, in_flight=server.in_flight,
        requests_total=server.requests_total, failures_total=server.failures_total,
        latency=latency_view(list(server.latency_counts)), connect=latency_view(list(server.connect_counts)),
        last_check=last)


def pool_view(runtime: Runtime, pool: Pool) -> PoolView:
    return PoolView(
        name=pool.name, algorithm=runtime.config.pools[pool.name].algorithm,
        servers=[server_view(runtime, pool, server) for server in pool.servers],
        available=[server.key for server in pool.available],
        health_checked=pool.name in runtime.health_checkers,
        retries_total=pool.retry_budget.retries_total,
        error_responses={str(status): count for status, count in sorted(pool.errors_total.items())})


def persistence_view(runtime: Runtime, listener_name: str, index: int) -> PersistenceView | None:
    """The route's live persistence, found in the listener's router (one rule per route, in
    order). With workers the routers are the workers': the config says the kind, and the
    stick tables' sizes, each worker's own, are not shown (docs/workers.md)."""
    if not runtime.listen:
        config = next(item for item in runtime.config.listeners if item.name == listener_name).routes[index]
        persistence = config.persistence
        if persistence is None:
            return None
        if persistence.cookie is not None:
            return PersistenceView(kind="cookie", cookie=persistence.cookie.name, entries=None)
        return PersistenceView(kind="source", cookie=None, entries=None)
    listener = next((item for item in runtime.listeners if item.name == listener_name), None)
    if not isinstance(listener, HttpListener) or index >= len(listener.router.rules):
        return None
    guard = listener.router.rules[index].target
    policy = guard.persistence if isinstance(guard, Guard) else None
    if isinstance(policy, CookiePersistence):
        return PersistenceView(kind="cookie", cookie=policy.name.decode(), entries=None)
    if isinstance(policy, SourcePersistence):
        return PersistenceView(kind="source", cookie=None, entries=policy.entries)
    return None


def full_form(settings: BaseModel | None) -> dict[str, Any] | None:
    return None if settings is None else settings.model_dump(mode="json", exclude_none=True)


def edits_view(edits: HeaderEdits | None) -> HeaderEditsView | None:
    if edits is None:
        return None
    return HeaderEditsView(add=list(edits.add), set=list(edits.set), remove=list(edits.remove))


def route_views(runtime: Runtime) -> list[RouteView]:
    views = []
    for listener in runtime.config.listeners:
        for index, route in enumerate(listener.routes):
            split = None if route.split is None else [SplitArmView(pool=arm.pool, weight=arm.weight)
                                                      for arm in route.split]
            respond = route.respond
            views.append(RouteView(
                listener=listener.name, index=index,
                match=route.match.model_dump(mode="json", exclude_none=True), pool=route.pool, split=split,
                # The cookie's name only: a sticky secret is never shown.
                sticky_cookie=route.sticky.cookie if route.sticky is not None else None,
                persistence=(persistence_view(runtime, listener.name, index)
                             if route.persistence is not None else None),
                respond=None if respond is None else RespondView(
                    status=respond.status, content_type=respond.content_type,
                    body_bytes=len(respond.body.encode()), headers=list(respond.headers)),
                redirect=(None if route.redirect is None
                          else RedirectView(location=route.redirect.location, status=route.redirect.status)),
                rate_limit=full_form(route.rate_limit), max_body_size=route.max_body_size,
                compression=full_form(route.compression), cache=full_form(route.cache),
                rewrite=full_form(route.rewrite), request_headers=edits_view(route.request_headers),
                response_headers=edits_view(route.response_headers)))
    return views


def listener_views(runtime: Runtime) -> list[ListenerView]:
    routes = route_views(runtime)
    views = []
    for listener in runtime.config.listeners:
        bound = runtime.listener_addresses.get(listener.name)
        address = None if bound is None else (f"[{bound[0]}]:{bound[1]}" if ":" in bound[0]
                                              else f"{bound[0]}:{bound[1]}")
        views.append(ListenerView(name=listener.name, bind=listener.bind, address=address,
                                  protocol=listener.protocol, tls=listener.tls is not None,
                                  routes=[route for route in routes if route.listener == listener.name],
                                  default_pool=listener.default_pool, pool=listener.pool))
    return views


def readiness(runtime: Runtime) -> Readiness:
    """Ready: the config is loaded (a runtime exists), every listener is bound and laneway is
    not shutting down, and every pool has a server that may take traffic."""
    reasons = []
    if runtime.stopping:
        reasons.append("laneway is shutting down")
    elif not runtime.accepting:
        reasons.append("no listener accepts connections yet (starting, or every worker is being "
                       "started again)")
    empty = sorted(name for name, pool in runtime.pools.items() if not pool.available)
    if empty:
        reasons.append(f"no server may take traffic in pool{'s' if len(empty) > 1 else ''} "
                       f"{', '.join(empty)}")
    return Readiness(ready=not reasons, reasons=reasons, pools_without_servers=empty)
