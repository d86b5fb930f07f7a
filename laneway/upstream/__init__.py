"""Servers, pools and keep-alive connections to servers."""

from laneway.upstream.connections import ConnectionPool
from laneway.upstream.latency import LATENCY_BOUNDS, quantile
from laneway.upstream.pool import Pool
from laneway.upstream.retry_budget import RetryBudget
from laneway.upstream.retry_policy import RetryPolicy
from laneway.upstream.server import (
    CLOSED,
    DRAIN,
    HALF_OPEN,
    MAINTENANCE,
    NO_LIMIT,
    OPEN,
    READY,
    Server,
)

__all__ = [
    "CLOSED",
    "DRAIN",
    "HALF_OPEN",
    "LATENCY_BOUNDS",
    "MAINTENANCE",
    "NO_LIMIT",
    "OPEN",
    "READY",
    "ConnectionPool",
    "Pool",
    "RetryBudget",
    "RetryPolicy",
    "Server",
    "quantile",
]
