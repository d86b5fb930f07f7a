"""A server's runtime state: where it is, its weight, its load and its health.

The server owns its counters (Envoy: the host owns ``rq_active``); algorithms read them,
``health`` and the admin API change the health state, the proxy counts requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laneway.upstream.connections import ConnectionPool

if TYPE_CHECKING:
    from laneway.upstream.pool import Pool


class Server:
    """One server of a pool. ``key`` is its ``host:port`` as written in the config."""

    __slots__ = (
        "backup",
        "connections",
        "ejected",
        "failures_total",
        "host",
        "in_flight",
        "key",
        "pool",
        "port",
        "requests_total",
        "up",
        "weight",
    )

    def __init__(self, key: str, host: str, port: int, *, weight: int = 1, backup: bool = False,
                 max_idle: int = 64, idle_timeout: float = 60.0) -> None:
        self.key = key
        self.host = host
        self.port = port
        self.weight = weight
        self.backup = backup
        self.pool: Pool | None = None
        self.connections = ConnectionPool(max_idle=max_idle, idle_timeout=idle_timeout)
        # Live state.
        self.up = True  # the active checks' verdict
        self.ejected = False  # the passive checks' verdict
        self.in_flight = 0
        self.requests_total = 0
        self.failures_total = 0

    def __repr__(self) -> str:
        return f"Server({self.key!r}, weight={self.weight}, up={self.up}, in_flight={self.in_flight})"
