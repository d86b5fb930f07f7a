"""Building a running balancer from a config: pools, listeners, and shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Callable

from laneway.balancing import create
from laneway.config import Config
from laneway.config.schema import HealthCheck, Listener
from laneway.config.schema import Pool as PoolConfig
from laneway.health import CircuitBreakers, HealthChecker, HttpProbe, OutlierDetector, Probe, TcpProbe
from laneway.http import AccessLog, DeadlineSweeper, HttpListener, ListenerSettings
from laneway.http import client as http_client
from laneway.routing import Router, RouteRule
from laneway.tcp import SniRoute, TcpListener, TcpRoutes
from laneway.upstream import Pool, RetryPolicy, Server

log = logging.getLogger("laneway")


def build_pool(name: str, config: PoolConfig, rng: random.Random | None = None,
               clock: Callable[[], float] = time.monotonic) -> Pool:
    """``clock`` must be the event loop's: the proxy passes the loop's time to the algorithm."""
    servers = []
    for server in config.servers:
        host, port = server.host_port
        servers.append(Server(server.address, host, port, weight=server.weight, backup=server.backup,
                              max_idle=config.keepalive.max_idle,
                              idle_timeout=config.keepalive.idle_timeout))
    hash_source = None
    if config.hash_key is not None:
        key = config.hash_key
        hash_source = (("path", "") if key.path else ("header", key.header) if key.header
                       else ("cookie", key.cookie) if key.cookie else ("query", key.query or ""))
    pool = Pool(name, servers, create(config.algorithm, rng, **config.algorithm_options),
                connect_timeout=config.timeouts.connect, response_timeout=config.timeouts.response,
                hash_source=hash_source, retry=retry_policy(config),
                proxy_protocol=config.proxy_protocol, clock=clock)
    for runtime_server, server_config in zip(pool.servers, config.servers, strict=True):
        pool.set_limits(runtime_server, max_requests=config.limits.max_requests,
                        max_connecting=config.limits.max_connecting)
        pool.set_state(runtime_server, server_config.state)
    return pool


def retry_policy(config: PoolConfig) -> RetryPolicy:
    conditions = set(config.retry_on)
    return RetryPolicy(
        retries=config.retries,
        on_connect_failure="connect_failure" in conditions,
        on_reset="reset" in conditions,
        on_timeout="timeout" in conditions,
        statuses=config.retry_statuses,
        body_limit=config.retry_body_limit,
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
                          timeout=check.timeout)
    return HealthChecker(pool, probe, interval=check.interval, rise=check.rise, fall=check.fall,
                         jitter=check.jitter, rng=rng)


def build_router(listener: Listener, pools: dict[str, Pool]) -> Router:
    rules = []
    for route in listener.routes:
        match = route.match
        rules.append(RouteRule(
            pools[route.pool],
            host=match.host.lower().encode() if match.host else None,
            path_prefix=match.path_prefix.encode() if match.path_prefix else None,
        ))
    return Router(rules)


def build_tcp_listener(listener: Listener, pools: dict[str, Pool],
                       loop: asyncio.AbstractEventLoop) -> TcpListener:
    if listener.pool is not None:
        routes = TcpRoutes([SniRoute(pools[listener.pool])])
    else:
        routes = TcpRoutes([SniRoute(pools[route.pool], route.match.sni) for route in listener.routes])
    return TcpListener(listener.name, routes, loop, idle_timeout=listener.timeouts.idle,
                       handshake_timeout=listener.timeouts.handshake,
                       accept_proxy_protocol=listener.accept_proxy_protocol)


def listener_settings(listener: Listener) -> ListenerSettings:
    return ListenerSettings(
        header_timeout=listener.timeouts.header,
        idle_timeout=listener.timeouts.idle,
        body_timeout=listener.timeouts.body,
        max_request_line=listener.limits.max_request_line,
        max_header_size=listener.limits.max_header_size,
        request_id_header=listener.request_id_header.lower().encode() if listener.request_id_header else None,
    )


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

    def __init__(self, config: Config) -> None:
        self.config = config
        self.listener_addresses: dict[str, tuple[str, int]] = {}
        self.pools: dict[str, Pool] = {}
        self.listeners: list[HttpListener | TcpListener] = []
        self.health_checkers: dict[str, HealthChecker] = {}  # by pool name
        self.outlier_detectors: dict[str, OutlierDetector] = {}  # by pool name
        self.circuit_breakers: dict[str, CircuitBreakers] = {}  # by pool name
        self.sweeper: DeadlineSweeper | None = None
        self.access_log: AccessLog | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.sweeper = DeadlineSweeper(loop)
        if self.config.access_log is not None:
            self.access_log = AccessLog(loop, self.config.access_log.path, self.config.access_log.format)
        self.pools = {name: build_pool(name, pool, clock=loop.time)
                      for name, pool in self.config.pools.items()}
        try:
            for listener_config in self.config.listeners:
                listener: HttpListener | TcpListener
                if listener_config.protocol == "tcp":
                    listener = build_tcp_listener(listener_config, self.pools, loop)
                else:
                    listener = HttpListener(listener_config.name, build_router(listener_config, self.pools),
                                            listener_settings(listener_config), self.sweeper,
                                            access_log=self.access_log)
                host, port = listener_config.host_port
                self.listener_addresses[listener.name] = await listener.start(host, port)
                self.listeners.append(listener)
        except OSError:
            for listener in self.listeners:
                listener.stop_accepting()
            raise
        self.sweeper.start()
        for name, pool_config in self.config.pools.items():
            if pool_config.health_check is not None:
                checker = build_checker(self.pools[name], pool_config.health_check)
                checker.start()
                self.health_checkers[name] = checker
            pool = self.pools[name]
            outliers = pool_config.outlier_detection
            if outliers is not None:
                pool.failure_statuses |= frozenset(outliers.failure_statuses)
                self.outlier_detectors[name] = OutlierDetector(
                    pool, consecutive=outliers.consecutive_failures, base_ejection=outliers.ejection_time,
                    max_ejection=outliers.max_ejection_time, clock=loop.time, call_later=loop.call_later)
            breaker = pool_config.circuit_breaker
            if breaker is not None:
                pool.failure_statuses |= frozenset(breaker.failure_statuses)
                self.circuit_breakers[name] = CircuitBreakers(
                    pool, failures=breaker.failures, open_for=breaker.open_for,
                    trial_requests=breaker.half_open_requests, call_later=loop.call_later)
        loop.call_later(1.0, self._every_second)
        tune_garbage_collector()

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

    async def shutdown(self, grace: float | None = None) -> None:
        if grace is None:
            grace = self.config.shutdown_grace
        for listener in self.listeners:
            listener.stop_accepting()
        await asyncio.gather(*(checker.stop() for checker in self.health_checkers.values()))
        await asyncio.gather(*(listener.drain(grace) for listener in self.listeners))
        for pool in self.pools.values():
            pool.close_idle()
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
