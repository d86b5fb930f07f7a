"""Circuit breakers: the chapter's three states, per server of a pool.

- closed: requests flow; ``failures`` failed requests in a row (as the proxy reports them
  through ``Pool.report``: no connection, a hang-up or timeout before the answer, a malformed
  answer, or a status the pool counts as failed) open the breaker.
- open: the server takes no requests for ``open_for`` seconds, then the breaker half-opens.
- half-open: the server takes at most ``trial_requests`` requests at a time (the pool's pick
  passes over it when they are under way); ``trial_requests`` successes close the breaker,
  any failure opens it again for another ``open_for``.

The chapter's sketch lets every request through once half-open and needs ``failures`` new
failures to open again: a server that is still broken then gets a full share of traffic.
Here one failed trial is enough, and only the trials are at risk.

Outcomes of requests that started before the breaker opened and end while it is open are
ignored: they say nothing new. Time passes through the injected ``call_later``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from laneway.upstream import CLOSED, HALF_OPEN, OPEN, Pool, Server

log = logging.getLogger("laneway.health")


class CircuitBreakers:
    def __init__(self, pool: Pool, *, failures: int, open_for: float, trial_requests: int,
                 call_later: Callable[[float, Callable[[], None]], Any]) -> None:
        if failures < 1 or trial_requests < 1:
            raise ValueError(f"failures and trial_requests must be >= 1, got {failures}, {trial_requests}")
        self.pool = pool
        self.failures = failures
        self.open_for = open_for
        self.trial_requests = trial_requests
        self.call_later = call_later
        self.failures_in_row: dict[str, int] = {}  # closed: failures in a row, per server key
        self.trial_successes: dict[str, int] = {}  # half-open: trials that went well
        self.opened_total: dict[str, int] = {}  # times each server's breaker opened
        pool.listen_results(self.record)

    def record(self, server: Server, ok: bool) -> None:
        key = server.key
        if server.breaker == CLOSED:
            if ok:
                self.failures_in_row.pop(key, None)
                return
            count = self.failures_in_row.get(key, 0) + 1
            self.failures_in_row[key] = count
            if count >= self.failures:
                self.open(server, f"{count} failed requests in a row")
        elif server.breaker == HALF_OPEN:
            if not ok:
                self.open(server, "a trial request failed")
                return
            successes = self.trial_successes.get(key, 0) + 1
            self.trial_successes[key] = successes
            if successes >= self.trial_requests:
                self.close(server)

    def open(self, server: Server, why: str) -> None:
        key = server.key
        self.failures_in_row.pop(key, None)
        self.trial_successes.pop(key, None)
        self.opened_total[key] = self.opened_total.get(key, 0) + 1
        log.warning("pools.%s server %s: circuit breaker OPEN for %gs (%s)",
                    self.pool.name, key, self.open_for, why)
        server.owner.set_breaker(server, OPEN)
        self.call_later(self.open_for, lambda: self.half_open(server))

    def half_open(self, server: Server) -> None:
        if server.breaker != OPEN:
            return
        log.info("pools.%s server %s: circuit breaker HALF-OPEN, %d trial request(s) at a time",
                 self.pool.name, server.key, self.trial_requests)
        server.owner.set_breaker(server, HALF_OPEN, trial_requests=self.trial_requests)

    def close(self, server: Server) -> None:
        self.trial_successes.pop(server.key, None)
        log.info("pools.%s server %s: circuit breaker CLOSED after %d good trial request(s)",
                 self.pool.name, server.key, self.trial_requests)
        server.owner.set_breaker(server, CLOSED)
