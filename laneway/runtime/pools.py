"""Building pools from the config: servers, algorithms, retries and health checks; on a
reload, the servers that stay keep their objects."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from laneway.balancing import create
from laneway.config.schema import (
    HealthCheck,
)
from laneway.config.schema import Pool as PoolConfig
from laneway.config.schema import Server as ServerConfig
from laneway.health import HealthChecker, HttpProbe, Probe, TcpProbe
from laneway.runtime.tls import pool_context
from laneway.upstream import Pool, RetryPolicy, Server

if TYPE_CHECKING:
    pass

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
