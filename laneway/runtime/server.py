"""A running balancer built from a config: its pools, listeners, reloads and shutdown
(``laneway.runtime.pools`` and ``laneway.runtime.routes`` build the parts)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import ssl
from collections.abc import Callable

from laneway.config import Config
from laneway.config.schema import Listener
from laneway.config.schema import Pool as PoolConfig
from laneway.config.schema import Server as ServerConfig
from laneway.health import CircuitBreakers, HealthChecker, OutlierDetector
from laneway.http import (
    AccessLog,
    DeadlineSweeper,
    HttpListener,
    HttpsRedirect,
    ListenerSettings,
    response_head,
)
from laneway.http import client as http_client
from laneway.policies.cache import CacheStore
from laneway.routing import GeoIP, Router
from laneway.runtime.pools import build_checker, build_pool, build_server
from laneway.runtime.routes import build_caches, build_router, check_cookie_secrets, keep_route_state
from laneway.runtime.tls import listener_context
from laneway.tcp import SniRoute, TcpListener, TcpRoutes
from laneway.upstream import Pool, Server

log = logging.getLogger("laneway")


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


def hot_path_build() -> str:
    """``compiled`` when the request path runs as mypyc-built C extensions and its C twins
    are built (setup.py), ``pure Python`` when neither is, else which part is missing."""
    mypyc = not http_client.__file__.endswith(".py")
    c_twins = response_head.READ_IN_C is not None
    if mypyc and c_twins:
        return "compiled"
    if mypyc or c_twins:
        return "partly compiled: " + ("C twins only" if c_twins else "no C twins")
    return "pure Python"


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
