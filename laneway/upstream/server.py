"""A server's runtime state: where it is, its weight, its load and its health.

The server owns its counters (Envoy: the host owns ``rq_active``); algorithms read them,
``health`` and the admin API change the health state, the proxy counts requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from laneway.upstream.connections import ConnectionPool
from laneway.upstream.latency import empty_counts

if TYPE_CHECKING:
    from laneway.upstream.pool import Pool


READY: Final = "ready"
DRAIN: Final = "drain"
MAINTENANCE: Final = "maintenance"
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"
NO_LIMIT: Final = 1 << 62


class Server:
    """One server of a pool. ``key`` is its ``host:port`` as written in the config."""

    __slots__ = (
        "backup",
        "breaker",
        "bytes_total",
        "connect_counts",
        "connect_sum",
        "connecting",
        "connections",
        "ejected",
        "failures_total",
        "host",
        "in_flight",
        "key",
        "latency_counts",
        "latency_sum",
        "limit",
        "max_connecting",
        "max_requests",
        "pool",
        "port",
        "requests_total",
        "responses",
        "state",
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
        self.state = READY  # the operator's: ready, drain or maintenance
        self.breaker = CLOSED  # the circuit breaker's state
        self.in_flight = 0
        self.connecting = 0  # connections to it being opened
        self.requests_total = 0
        self.failures_total = 0
        self.bytes_total = 0  # bytes of its responses written to clients (head and body, as sent)
        # Requests ended, by the server's status // 100 (index 0: no response came); the
        # proxy adds one per request, metrics read them at scrape time.
        self.responses = [0] * 10
        # Response times (request start to response end) by bucket of LATENCY_BOUNDS, and
        # their sum in seconds: the proxy adds each request's, metrics read them.
        self.latency_counts = empty_counts()
        self.latency_sum = 0.0
        # Times to open a connection to it (TCP, and TLS when the pool speaks it), the same way:
        # the one latency a tcp listener can see.
        self.connect_counts = empty_counts()
        self.connect_sum = 0.0
        # Caps (config ``limits``); ``limit`` is the requests it admits at once now: the cap,
        # or the breaker's trial requests while half-open. Checked on every pick.
        self.max_requests = NO_LIMIT
        self.max_connecting = NO_LIMIT
        self.limit = NO_LIMIT

    @property
    def owner(self) -> Pool:
        """The pool it belongs to now: a config reload moves a server that stays into the new
        pool object, so whatever changes its state later must go through this one."""
        assert self.pool is not None, f"server {self.key} is in no pool"
        return self.pool

    @property
    def takes_traffic(self) -> bool:
        """Whether new requests may go to it: every verdict on it says yes."""
        return self.up and not self.ejected and self.breaker != OPEN and self.state == READY

    @property
    def admits(self) -> bool:
        """Whether it is below its caps: requests under way (``limit``), and connections being
        opened (``max_connecting``) unless an idle one is there to take."""
        return self.in_flight < self.limit and (
            self.connecting < self.max_connecting or bool(self.connections.idle))

    def __repr__(self) -> str:
        return f"Server({self.key!r}, weight={self.weight}, up={self.up}, in_flight={self.in_flight})"
