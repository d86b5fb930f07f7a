"""When a pool sends a request to another server, and how many retries it lets run at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A pool's retry settings (config: ``retries``, ``retry_on``, ``retry_body_limit``,
    ``retry_budget``, ``timeouts.total``).

    Whether a request is *safe* to send again is the proxy's call (the method, whether a
    byte of it reached a server, whether its body was kept); this says only when the pool
    wants it done.
    """

    retries: int = 2
    on_connect_failure: bool = True
    on_reset: bool = True
    on_timeout: bool = False
    statuses: frozenset[int] = frozenset()
    body_limit: int = 64 * 1024  # request bodies up to this size are kept for a retry
    idempotency_header: bytes | None = None  # lower case; marks any request safe to repeat
    budget_percent: float = 20.0  # retries, as a share of first tries (laneway.upstream.RetryBudget)
    budget_min_per_second: float = 10.0
    total_timeout: float | None = None  # from a request's arrival to its response head

