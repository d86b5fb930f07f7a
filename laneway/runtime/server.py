"""Building a running balancer from a config: pools, listeners, and shutdown."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import random
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from laneway.balancing import create
from laneway.config import Config
from laneway.config.schema import (
    LOCATION_VARIABLES,
    HeaderEdits,
    HealthCheck,
    Listener,
    Match,
    RateKey,
    Route,
    ValueTest,
)
from laneway.config.schema import CacheStore as CacheStoreConfig
from laneway.config.schema import Persistence as PersistenceConfig
from laneway.config.schema import Pool as PoolConfig
from laneway.config.schema import Server as ServerConfig
from laneway.config.variables import RESPONSE_VARIABLES, split_template
from laneway.health import CircuitBreakers, HealthChecker, HttpProbe, OutlierDetector, Probe, TcpProbe
from laneway.http import AccessLog, DeadlineSweeper, HttpListener, HttpsRedirect, ListenerSettings
from laneway.http import client as http_client
from laneway.policies import (
    BY_CLIENT,
    BY_HEADER,
    BY_ROUTE,
    Compression,
    CookiePersistence,
    Guard,
    HeaderEdit,
    PathRewrite,
    Persistence,
    RateLimiter,
    RegexPathRewrite,
    RouteEdits,
    SourcePersistence,
    Template,
)
from laneway.policies.cache import CacheStore, RouteCache
from laneway.routing import Answer, GeoIP, Router, RouteRule, Split, StickyCookie, ValueMatch
from laneway.runtime.tls import listener_context, pool_context
from laneway.tcp import SniRoute, TcpListener, TcpRoutes
from laneway.upstream import Pool, RetryPolicy, Server

if TYPE_CHECKING:
    from laneway.routing.rule import Target

log = logging.getLogger("laneway")


def build_pool(name: str, config: PoolConfig, rng: random.Random | None = None,
               clock: Callable[[], float] = time.monotonic, *,
               previous: Pool | None = None, previous_config: PoolConfig | None = None) -> Pool:
    """``clock`` must be the event loop's: the proxy passes the loop's time to the algorithm.

    On a reload, ``previous`` is the pool of the same name: a server still listed keeps its
    object, so its health, counters and idle connections carry over; what the file changed
    for it (weight, backup, state) is applied.
    """
    kept = {server.key: server for server in previous.servers} if previous is not None else {}
    before = {server.address: server for server in previous_config.servers} if previous_config else {}
    servers = []
    for server_config in config.servers:
        host, port = server_config.host_port
        server = kept.get(server_config.address)
        if server is None:
            server = Server(server_config.address, host, port)
            server.state = server_config.state
            server.weight = server_config.weight
        elif before.get(server_config.address) != server_config:
            # The file changed it: the file wins. Otherwise a state or weight set through the
            # admin API stays.
            server.state = server_config.state
            server.weight = server_config.weight
        server.backup = server_config.backup
        server.connections.max_idle = config.keepalive.max_idle
        server.connections.idle_timeout = config.keepalive.idle_timeout
        servers.append(server)
    for gone in kept.values():
        if all(s is not gone for s in servers):
            # Removed: requests under way finish; a connection they give back is closed.
            gone.connections.max_idle = 0
            gone.connections.close_all()
    hash_source = None
    if config.hash_key is not None:
        key = config.hash_key
        hash_source = (("path", "") if key.path else ("header", key.header) if key.header
                       else ("cookie", key.cookie) if key.cookie else ("query", key.query or ""))
    pool = Pool(name, servers, create(config.algorithm, rng, **config.algorithm_options),
                connect_timeout=config.timeouts.connect, response_timeout=config.timeouts.response,
                hash_source=hash_source, retry=retry_policy(config),
                proxy_protocol=config.proxy_protocol, clock=clock,
                tls=pool_context(config.tls) if config.tls is not None else None,
                tls_server_name=config.tls.server_name if config.tls is not None else None)
    if previous is not None:
        # The budget's window and counter carry on: a fresh budget would take every request
        # since the start for this window's first tries, and open wide for ten seconds.
        budget = previous.retry_budget
        budget.percent = pool.retry.budget_percent
        budget.min_per_second = pool.retry.budget_min_per_second
        pool.retry_budget = budget
    for server in pool.servers:
        pool.set_limits(server, max_requests=config.limits.max_requests,
                        max_connecting=config.limits.max_connecting)
    pool.refresh()
    return pool


def build_server(server: ServerConfig, pool: PoolConfig) -> Server:
    host, port = server.host_port
    return Server(server.address, host, port, weight=server.weight, backup=server.backup,
                  max_idle=pool.keepalive.max_idle, idle_timeout=pool.keepalive.idle_timeout)


def retry_policy(config: PoolConfig) -> RetryPolicy:
    conditions = set(config.retry_on)
    return RetryPolicy(
        retries=config.retries,
        on_connect_failure="connect_failure" in conditions,
        on_reset="reset" in conditions,
        on_timeout="timeout" in conditions,
        statuses=config.retry_statuses,
        body_limit=config.retry_body_limit,
        idempotency_header=config.idempotency_header.lower().encode() if config.idempotency_header else None,
        budget_percent=config.retry_budget.percent,
        budget_min_per_second=config.retry_budget.min_per_second,
        total_timeout=config.timeouts.total,
    )


def build_checker(pool: Pool, check: HealthCheck, rng: random.Random | None = None) -> HealthChecker:
    probe: Probe
    if check.type == "tcp":
        probe = TcpProbe(timeout=check.timeout)
    else:
        probe = HttpProbe(method=check.method, path=check.path, host=check.host,
                          expect_status=check.expect_status, expect_body=check.expect_body,
                          timeout=check.timeout, tls=pool.tls, tls_server_name=pool.tls_server_name)
    return HealthChecker(pool, probe, interval=check.interval, rise=check.rise, fall=check.fall,
                         jitter=check.jitter, rng=rng)


def build_router(listener: Listener, pools: dict[str, Pool], *, secret: bytes | None = None,
                 geoip: GeoIP | None = None, clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] | None = None,
                 caches: Mapping[str, CacheStore] | None = None) -> Router:
    """``secret`` signs sticky split cookies and persistence cookies that configure none (one
    per instance by default); ``clock`` (the event loop's time) ages stick tables;
    ``environ`` holds the secrets routes name with ``secret_env`` (``os.environ`` by default);
    ``caches`` are the stores routes cache into, by name."""
    instance_secret = secret or secrets.token_bytes(32)
    rules = []
    for route in listener.routes:
        answer = route_answer(route)
        if answer is not None:
            rules.append(build_rule(route.match, answer))
            continue
        target: Pool | Split
        if route.split is not None:
            sticky = None
            if route.sticky is not None:
                config = route.sticky
                sticky = StickyCookie(
                    config.cookie.encode(),
                    config.secret.encode() if config.secret is not None else instance_secret,
                    max_age=None if config.max_age is None else max(1, round(config.max_age)),
                    secure=listener.tls is not None)
            target = Split([(pools[arm.pool], arm.weight) for arm in route.split], sticky=sticky,
                           scope=listener.name)
        else:
            assert route.pool is not None  # the schema asks for pool or split
            target = pools[route.pool]
        if route.has_policies:
            guard = guarded(route, target, caches or {})
            if route.persistence is not None:
                guard.persistence = build_persistence(route.persistence, secure=listener.tls is not None,
                                                      secret=instance_secret, clock=clock,
                                                      environ=os.environ if environ is None else environ)
            rules.append(build_rule(route.match, guard))
        else:
            rules.append(build_rule(route.match, target))
    default = pools[listener.default_pool] if listener.default_pool is not None else None
    return Router(rules, default, geoip=geoip)


def route_answer(route: Route) -> Answer | None:
    """The answer of a route that laneway answers itself (respond or redirect), else None."""
    if route.respond is not None:
        respond = route.respond
        return Answer(respond.status, respond.body.encode(), respond.content_type.encode(),
                      b"".join(f"{name}: {value}\r\n".encode() for name, value in respond.headers.items()))
    if route.redirect is not None:
        return Answer(route.redirect.status,
                      location=Template(split_template(route.redirect.location, LOCATION_VARIABLES)))
    return None


def guarded(route: Route, target: Pool | Split, caches: Mapping[str, CacheStore]) -> Guard[Pool | Split]:
    """The route's target behind its policies (rate limit, body size, edits, compression, cache)."""
    guard: Guard[Pool | Split] = Guard(target, max_body_size=route.max_body_size)
    if route.cache is not None:
        cache = route.cache
        guard.cache = RouteCache(caches[cache.store], dict(cache.valid),
                                 tuple(name.lower().encode() for name in cache.key_headers),
                                 lock=cache.lock, lock_timeout=cache.lock_timeout)
    if route.compression is not None:
        settings = route.compression
        guard.compression = Compression(frozenset(kind.encode() for kind in settings.types),
                                        settings.min_length, settings.level, settings.brotli_quality)
    if route.edits_messages:
        guard.edits = route_edits(route)
    limit = route.rate_limit
    if limit is not None:
        guard.rate_limiter = RateLimiter(limit.rate, burst=limit.burst, nodelay=limit.nodelay,
                                         delay_after=limit.delay, max_keys=limit.max_keys)
        if isinstance(limit.key, RateKey):
            guard.rate_key, guard.rate_header = BY_HEADER, limit.key.header.lower().encode()
        else:
            guard.rate_key = BY_ROUTE if limit.key == "route" else BY_CLIENT
    return guard


def route_edits(route: Route) -> RouteEdits:
    path: PathRewrite | None = None
    rewrite = route.rewrite
    if rewrite is not None:
        if rewrite.strip_prefix is not None:
            path = PathRewrite(rewrite.strip_prefix.encode())
        elif rewrite.replace_prefix is not None:
            path = PathRewrite(rewrite.replace_prefix.prefix.encode(), rewrite.replace_prefix.to.encode())
        elif rewrite.regex is not None:
            path = RegexPathRewrite(rewrite.regex.pattern.encode(), rewrite.regex.replacement.encode())
    return RouteEdits(path=path, request=header_edit(route.request_headers),
                      response=header_edit(route.response_headers))


def header_edit(edits: HeaderEdits | None) -> HeaderEdit | None:
    if edits is None:
        return None

    def template(text: str) -> Template:
        return Template(split_template(text, list(RESPONSE_VARIABLES)))  # names checked by the schema

    return HeaderEdit(add=[(name, template(value)) for name, value in edits.add.items()],
                      set=[(name, template(value)) for name, value in edits.set.items()],
                      remove=edits.remove)


def build_persistence(config: PersistenceConfig, *, secure: bool, secret: bytes, clock: Callable[[], float],
                      environ: Mapping[str, str]) -> Persistence:
    """A route's session persistence. ``secret`` signs cookies when the config gives none;
    ``secure``: the listener has tls."""
    source = config.source
    if source is not None:
        return SourcePersistence(expire=source.expire, max_entries=source.max_entries, clock=clock)
    cookie = config.cookie
    assert cookie is not None  # the schema asks for cookie or source
    if cookie.secret_env is not None:
        secret = cookie_secret(cookie.secret_env, environ).encode()
    elif cookie.secret is not None:
        secret = cookie.secret.encode()
    max_age = None if cookie.max_age is None else max(1, round(cookie.max_age))
    return CookiePersistence(
        cookie.name.encode(), secret, max_age=max_age, path=cookie.path.encode(),
        domain=None if cookie.domain is None else cookie.domain.encode(),
        secure=secure if cookie.secure is None else cookie.secure)


def cookie_secret(name: str, environ: Mapping[str, str]) -> str:
    secret = environ.get(name, "")
    if len(secret) < 16:
        raise ValueError(f"persistence.cookie.secret_env: the environment variable {name} is "
                         f"{'not set or empty' if not secret else 'shorter than 16 characters'}; set it to "
                         "the same secret of 16 characters or more on every instance before starting laneway")
    return secret


def check_cookie_secrets(config: Config, environ: Mapping[str, str]) -> None:
    """Every ``secret_env`` a route names is set: checked before anything starts or changes."""
    for index, listener in enumerate(config.listeners):
        for number, route in enumerate(listener.routes):
            cookie = route.persistence.cookie if route.persistence is not None else None
            if cookie is not None and cookie.secret_env is not None:
                try:
                    cookie_secret(cookie.secret_env, environ)
                except ValueError as error:
                    raise ValueError(f"listeners[{index}].routes[{number}].{error}") from None


def keep_route_state(old: Router, new: Router) -> None:
    """A reload keeps what routes remember, for a route at the same place with the same
    settings: source persistence's tables (they name servers by address, so they fit the
    rebuilt pools; a server gone is simply not found) and the rate limit's counts (else a
    reload would hand every client a fresh burst)."""
    for before, after in zip(old.rules, new.rules, strict=False):
        if not isinstance(before.target, Guard) or not isinstance(after.target, Guard):
            continue
        kept, fresh = before.target.persistence, after.target.persistence
        if (isinstance(kept, SourcePersistence) and isinstance(fresh, SourcePersistence)
                and (kept.expire, kept.max_entries) == (fresh.expire, fresh.max_entries)):
            fresh.tables = kept.tables
        limiter, fresh_limiter = before.target.rate_limiter, after.target.rate_limiter
        if (limiter is not None and fresh_limiter is not None and limiter.same_settings(fresh_limiter)
                and (before.target.rate_key, before.target.rate_header)
                == (after.target.rate_key, after.target.rate_header)):
            after.target.rate_limiter = limiter


def build_rule(match: Match, target: Target) -> RouteRule:
    host = match.host.encode() if match.host is not None else None
    wildcard = host is not None and host.startswith(b"*.")
    return RouteRule(
        target,
        host=None if wildcard else host,
        host_suffix=host[1:] if host is not None and wildcard else None,
        path_prefix=match.path_prefix.encode() if match.path_prefix is not None else None,
        path=match.path.encode() if match.path is not None else None,
        path_regex=re.compile(match.path_regex.encode()) if match.path_regex is not None else None,
        methods=frozenset(method.encode() for method in match.method) if match.method else None,
        headers=value_matches(match.headers, lower=True),
        cookies=value_matches(match.cookies),
        query=value_matches(match.query),
        networks=tuple(ipaddress.ip_network(network, strict=False) for network in match.client_address or ()),
        countries=frozenset(match.country) if match.country is not None else None,
    )


def value_matches(tests: Mapping[str, ValueTest] | None, *, lower: bool = False,
                  ) -> tuple[tuple[bytes, ValueMatch], ...]:
    """Header names are compared in lower case (RFC 9110 5.1); cookie and query names as given."""
    return tuple(((name.lower() if lower else name).encode(), value_match(test))
                 for name, test in (tests or {}).items())


def value_match(test: ValueTest) -> ValueMatch:
    regex = getattr(test, "regex", None)  # headers only
    return ValueMatch(
        present=test.present,
        equals=frozenset(value.encode() for value in test.equals) if test.equals is not None else None,
        regex=re.compile(regex.encode()) if regex is not None else None,
    )


def build_tcp_listener(listener: Listener, pools: dict[str, Pool],
                       loop: asyncio.AbstractEventLoop) -> TcpListener:
    if listener.pool is not None:
        routes = TcpRoutes([SniRoute(pools[listener.pool])])
    else:
        # The schema allows a tcp route no split, so each names one pool.
        routes = TcpRoutes([SniRoute(pools[route.pool or ""], route.match.sni) for route in listener.routes])
    return TcpListener(listener.name, routes, loop, idle_timeout=listener.timeouts.idle,
                       handshake_timeout=listener.handshake_timeout,
                       accept_proxy_protocol=listener.accept_proxy_protocol)


def listener_settings(listener: Listener) -> ListenerSettings:
    return ListenerSettings(
        header_timeout=listener.timeouts.header,
        idle_timeout=listener.timeouts.idle,
        body_timeout=listener.timeouts.body,
        max_request_line=listener.limits.max_request_line,
        max_header_size=listener.limits.max_header_size,
        request_id_header=listener.request_id_header.lower().encode() if listener.request_id_header else None,
        handshake_timeout=listener.handshake_timeout,
    )


def build_caches(config: Mapping[str, CacheStoreConfig], previous: Mapping[str, CacheStore] | None = None,
                 previous_config: Mapping[str, CacheStoreConfig] | None = None) -> dict[str, CacheStore]:
    """The named cache stores; on a reload a store whose settings did not change is kept,
    entries and counters with it."""
    stores = {}
    for name, settings in config.items():
        kept = (previous or {}).get(name)
        if kept is not None and (previous_config or {}).get(name) == settings:
            stores[name] = kept
        else:
            stores[name] = CacheStore(name, settings.max_size, settings.max_entry_size)
    return stores


def hot_path_build() -> str:
    """``compiled`` when the request path runs as mypyc-built C extensions (setup.py),
    else ``pure Python``."""
    return "compiled" if not http_client.__file__.endswith(".py") else "pure Python"


def tune_garbage_collector() -> None:
    """Collect less often: every request allocates a few short-lived containers, and the
    default threshold (700) runs a collection every hundred requests or so. Objects alive
    at start-up (config, pools, modules) are frozen out of every collection."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class Runtime:
    """Everything one laneway instance runs, built from a ``Config``.

    ``await start()`` binds every listener (port 0 binds a free port; read the real address
    from ``listener_addresses``); ``await shutdown(grace)`` stops accepting, lets in-flight
    requests finish for up to ``grace`` seconds, then closes the rest.
    """

    def __init__(self, config: Config, *, listen: bool = True, check_health: bool = True,
                 reuse_port: bool = False) -> None:
        self.config = config
        # What this process does (docs/workers.md): one process does all of it; with workers,
        # the supervisor checks health without listening and each worker listens (sharing the
        # ports: ``reuse_port``) without checking health.
        self.listen = listen
        self.check_health = check_health
        self.reuse_port = reuse_port
        self.listener_addresses: dict[str, tuple[str, int]] = {}
        self.pools: dict[str, Pool] = {}
        self.listeners: list[HttpListener | TcpListener] = []
        self.health_checkers: dict[str, HealthChecker] = {}  # by pool name
        self.outlier_detectors: dict[str, OutlierDetector] = {}  # by pool name
        self.circuit_breakers: dict[str, CircuitBreakers] = {}  # by pool name
        self.sweeper: DeadlineSweeper | None = None
        self.access_log: AccessLog | None = None
        self.draining: set[asyncio.Task[None]] = set()  # listeners a reload removed
        self.geoip: GeoIP | None = None
        self.caches: dict[str, CacheStore] = {}  # by name
        # With workers, the supervisor's sums of requests each route's rate limit refused (by
        # ``listener/route index``); None in a process that serves traffic itself.
        self.rate_limited_totals: dict[str, int] | None = None
        # Signs sticky split cookies and persistence cookies that configure no secret; kept
        # across reloads so that clients keep their arms and servers.
        self.split_secret = secrets.token_bytes(32)
        # Readiness (the admin API's /health/ready): ``accepting`` from the moment every
        # listener is bound until shutdown; ``stopping`` from the moment laneway is told to
        # stop, which may come a while before it stops accepting (admin.shutdown_delay).
        self.accepting = False
        self.stopping = False

    async def start(self, prepare: Callable[[], None] | None = None) -> None:
        """``prepare`` runs once the pools are built, before any listener accepts: a worker
        gives its servers the state the supervisor's checks found, so no request can reach
        a server that is down."""
        check_cookie_secrets(self.config, os.environ)  # before anything starts
        loop = asyncio.get_running_loop()
        self.sweeper = DeadlineSweeper(loop)
        if self.config.access_log is not None and self.listen:  # the workers write it, not a supervisor
            self.access_log = AccessLog(loop, self.config.access_log.path, self.config.access_log.format)
        self.pools = {name: build_pool(name, pool, clock=loop.time)
                      for name, pool in self.config.pools.items()}
        if self.config.geoip is not None:
            self.geoip = GeoIP(self.config.geoip.database)
        self.caches = build_caches(self.config.caches)
        if prepare is not None:
            prepare()
        try:
            for listener_config in self.config.listeners if self.listen else ():
                self.listeners.append(await self._start_listener(listener_config, self.pools))
        except OSError:
            for listener in self.listeners:
                listener.stop_accepting()
            if self.geoip is not None:
                self.geoip.close()
            raise
        self.sweeper.start()
        for name, pool_config in self.config.pools.items():
            self._watch_pool(self.pools[name], pool_config)
        loop.call_later(1.0, self._every_second)
        tune_garbage_collector()
        self.accepting = True

    def add_server(self, pool_name: str, server_config: ServerConfig) -> Server:
        """Add a server to a running pool, set up as the config's servers are (keep-alive,
        limits, state). In a health-checked pool it starts down and takes traffic once it
        passes ``rise`` checks (Envoy's "pending first health check"): a server that was
        added before it runs must not get requests. Call on the loop."""
        pool = self.pools[pool_name]
        pool_config = self.config.pools[pool_name]
        server = build_server(server_config, pool_config)
        pool.set_limits(server, max_requests=pool_config.limits.max_requests,
                        max_connecting=pool_config.limits.max_connecting)
        checker = self.health_checkers.get(pool_name)
        # No await until all is set: no request can be sent to it in between.
        pool.add_server(server)
        pool.set_state(server, server_config.state)
        if checker is not None:
            pool.set_up(server, False)
            checker.add(server)
        log.info("pools.%s: server %s added (weight %d, %s)", pool_name, server.key, server.weight,
                 server.state)
        return server

    def remove_server(self, pool_name: str, server: Server) -> None:
        """Take a server out of a running pool; its requests under way finish. Call on the loop."""
        checker = self.health_checkers.get(pool_name)
        if checker is not None:
            checker.remove(server)
        self.pools[pool_name].remove_server(server)
        log.info("pools.%s: server %s removed (%d requests under way finish)", pool_name, server.key,
                 server.in_flight)

    async def _start_listener(self, config: Listener, pools: dict[str, Pool]) -> HttpListener | TcpListener:
        assert self.sweeper is not None
        listener: HttpListener | TcpListener
        if config.protocol == "tcp":
            listener = build_tcp_listener(config, pools, self.sweeper.loop)
        else:
            redirect = config.redirect_to_https
            listener = HttpListener(
                config.name, self._router(config, pools), listener_settings(config), self.sweeper,
                access_log=self.access_log,
                ssl_context=listener_context(config.tls) if config.tls is not None else None,
                redirect=HttpsRedirect(redirect.port, redirect.status) if redirect is not None else None)
        host, port = config.host_port
        self.listener_addresses[listener.name] = await listener.start(host, port, reuse_port=self.reuse_port)
        return listener

    def _router(self, config: Listener, pools: dict[str, Pool]) -> Router:
        router = build_router(config, pools, secret=self.split_secret, geoip=self.geoip,
                              clock=asyncio.get_running_loop().time, caches=self.caches)
        current = next((item for item in self.listeners if item.name == config.name), None)
        if isinstance(current, HttpListener):
            keep_route_state(current.router, router)
        return router

    def _watch_pool(self, pool: Pool, config: PoolConfig) -> None:
        """Start the pool's health checks, passive checks and circuit breakers."""
        loop = asyncio.get_running_loop()
        name = pool.name
        if config.health_check is not None and self.check_health:
            checker = build_checker(pool, config.health_check)
            checker.start()
            self.health_checkers[name] = checker
        outliers = config.outlier_detection
        if outliers is not None:
            pool.failure_statuses |= frozenset(outliers.failure_statuses)
            self.outlier_detectors[name] = OutlierDetector(
                pool, consecutive=outliers.consecutive_failures, base_ejection=outliers.ejection_time,
                max_ejection=outliers.max_ejection_time, clock=loop.time, call_later=loop.call_later)
        breaker = config.circuit_breaker
        if breaker is not None:
            pool.failure_statuses |= frozenset(breaker.failure_statuses)
            self.circuit_breakers[name] = CircuitBreakers(
                pool, failures=breaker.failures, open_for=breaker.open_for,
                trial_requests=breaker.half_open_requests, call_later=loop.call_later)

    async def reload(self, config: Config) -> None:
        """Run ``config`` from now on, without dropping a connection (SIGHUP).

        Everything new is built first; if a new listener cannot bind, nothing changes and the
        error is raised. Then: pools are rebuilt with the servers that stay (same objects:
        health, counters and idle connections carry over); listeners that stay swap their
        routes and settings in place, for their open connections too (a request under way
        finishes on the pool it started on); new listeners accept; removed ones drain.
        """
        check_cookie_secrets(config, os.environ)  # before anything changes
        loop = asyncio.get_running_loop()
        old_config = self.config
        pools = {name: build_pool(name, pool_config, clock=loop.time, previous=self.pools.get(name),
                                  previous_config=old_config.pools.get(name))
                 for name, pool_config in config.pools.items()}
        current = {listener.name: listener for listener in self.listeners}
        old_binds = {listener.name: listener.bind for listener in old_config.listeners}
        ssl_contexts = self._reload_ssl_contexts(config, current, old_binds)
        started: list[HttpListener | TcpListener] = []
        old_caches = self.caches
        self.caches = build_caches(config.caches, old_caches, old_config.caches)
        old_geoip = self.geoip
        if config.geoip != old_config.geoip:  # a bad database raises here: nothing changed yet
            self.geoip = None if config.geoip is None else GeoIP(config.geoip.database)
        try:
            for listener_config in config.listeners if self.listen else ():
                if old_binds.get(listener_config.name) != listener_config.bind:
                    started.append(await self._start_listener(listener_config, pools))
        except OSError:
            for listener in started:
                listener.stop_accepting()
            self.caches = old_caches
            if self.geoip is not old_geoip:
                if self.geoip is not None:
                    self.geoip.close()
                self.geoip = old_geoip
            raise
        access_log = self.access_log
        if config.access_log != old_config.access_log:
            if access_log is not None:
                access_log.close()
            access_log = None if config.access_log is None or not self.listen else AccessLog(
                loop, config.access_log.path, config.access_log.format)
        self.access_log = access_log
        # From here on nothing can fail: switch over.
        await asyncio.gather(*(checker.stop() for checker in self.health_checkers.values()))
        self.health_checkers, self.outlier_detectors, self.circuit_breakers = {}, {}, {}
        self.config = config
        self.pools = pools
        for name, pool_config in config.pools.items():
            self._watch_pool(pools[name], pool_config)
        staying: list[HttpListener | TcpListener] = []
        fresh = {listener.name: listener for listener in started}
        for listener_config in config.listeners if self.listen else ():
            if listener_config.name in fresh:
                staying.append(fresh[listener_config.name])  # an old one of that name drains
                continue
            listener = current.pop(listener_config.name)
            if isinstance(listener, TcpListener):
                listener.reconfigure(build_tcp_listener(listener_config, pools, loop))
            else:
                redirect = listener_config.redirect_to_https
                listener.reconfigure(
                    self._router(listener_config, pools), listener_settings(listener_config), access_log,
                    ssl_context=ssl_contexts.get(listener_config.name),
                    redirect=HttpsRedirect(redirect.port, redirect.status) if redirect is not None else None)
            staying.append(listener)
        self.listeners = staying
        if old_geoip is not None and old_geoip is not self.geoip:
            old_geoip.close()  # every router that used it has been replaced
        for name, listener in current.items():
            log.info("listener %s: closed by the new config; draining", name)
            listener.stop_accepting()
            self.draining.add(loop.create_task(listener.drain(config.shutdown_grace)))
            if name not in fresh:
                self.listener_addresses.pop(name, None)
        # One process says so here. With workers (a supervisor does not listen, workers do
        # not check health) the supervisor says so once every worker runs it.
        if self.listen and self.check_health:
            log.info("config reloaded: %d listener(s), %d pool(s)", len(config.listeners), len(config.pools))

    @staticmethod
    def _reload_ssl_contexts(config: Config, current: dict[str, HttpListener | TcpListener],
                             old_binds: dict[str, str]) -> dict[str, ssl.SSLContext]:
        """New SSL contexts (certificates read again) for the TLS listeners that stay, built
        before anything switches. A listener that stays on its bind cannot start or stop
        speaking TLS in place: its socket accepts one way or the other."""
        contexts: dict[str, ssl.SSLContext] = {}
        for listener_config in config.listeners:
            listener = current.get(listener_config.name)
            staying = old_binds.get(listener_config.name) == listener_config.bind
            if not staying or not isinstance(listener, HttpListener):
                continue
            if (listener_config.tls is None) != (listener.tls is None):
                raise ValueError(f"listener {listener_config.name}: tls can only be turned on or off with a "
                                 "new bind (or a restart), not in place on the same bind")
            if listener_config.tls is not None:
                contexts[listener_config.name] = listener_context(listener_config.tls)
        return contexts

    def _every_second(self) -> None:
        """Close idle server connections past their time; move the retry budgets on."""
        if self.sweeper is None:
            return
        now = self.sweeper.loop.time()
        for pool in self.pools.values():
            pool.tick()
            for server in pool.servers:
                server.connections.close_expired(now)
        self.sweeper.loop.call_later(1.0, self._every_second)

    def announce_shutdown(self) -> None:
        """Say not-ready (``/health/ready``) while still serving, ahead of ``shutdown``."""
        self.stopping = True

    async def shutdown(self, grace: float | None = None) -> None:
        self.stopping = True
        self.accepting = False
        if grace is None:
            grace = self.config.shutdown_grace
        for listener in self.listeners:
            listener.stop_accepting()
        await asyncio.gather(*(checker.stop() for checker in self.health_checkers.values()))
        await asyncio.gather(*(listener.drain(grace) for listener in self.listeners), *self.draining)
        for pool in self.pools.values():
            pool.close_idle()
        if self.geoip is not None:
            self.geoip.close()
            self.geoip = None
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        if self.access_log is not None:
            self.access_log.close()

    def reopen_logs(self) -> None:
        """SIGUSR1: open the access log file again, after it was moved for rotation."""
        if self.access_log is not None:
            self.access_log.reopen()
            log.info("access log %s reopened", self.access_log.path)
