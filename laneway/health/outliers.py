"""Passive checks: servers ejected on the failures real traffic meets (Envoy's outlier
detection, NGINX's ``max_fails``/``fail_timeout``).

The proxy reports each request's outcome through ``Pool.report``. After ``consecutive``
failures in a row (a connection that could not be made, a hang-up or timeout before the
answer, a malformed response, or a status the pool counts as failed) the server is ejected:
it takes no new requests for ``base_ejection`` seconds, doubled for each ejection in a row
and capped at ``max_ejection``. It then returns on its own; a success resets the count, and
a server that stays clean for a full ``max_ejection`` starts again from the base time.

Ejection is kept apart from the active checks' verdict (``Server.up``): a server takes
traffic only when it is up and not ejected, and neither mechanism undoes the other's.
Time comes from the injected clock; readmission is scheduled with the injected ``call_later``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from laneway.upstream import Pool, Server

log = logging.getLogger("laneway.health")


class OutlierDetector:
    def __init__(self, pool: Pool, *, consecutive: int, base_ejection: float, max_ejection: float,
                 clock: Callable[[], float], call_later: Callable[[float, Callable[[], None]], Any]) -> None:
        if consecutive < 1:
            raise ValueError(f"consecutive must be >= 1, got {consecutive}")
        self.pool = pool
        self.consecutive = consecutive
        self.base_ejection = base_ejection
        self.max_ejection = max_ejection
        self.clock = clock
        self.call_later = call_later
        # Per server key: failures in a row, ejections in a row, when the last ejection ended.
        self.failures: dict[str, int] = {}
        self.ejections: dict[str, int] = {}
        self.returned_at: dict[str, float] = {}
        self.ejected_total: dict[str, int] = {}  # every ejection, for operators and metrics
        pool.listen_results(self.record)

    def record(self, server: Server, ok: bool) -> None:
        key = server.key
        if ok:
            self.failures.pop(key, None)
            return
        if server.ejected:
            return
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        if count >= self.consecutive:
            self.eject(server)

    def eject(self, server: Server) -> None:
        key = server.key
        now = self.clock()
        if now - self.returned_at.get(key, now) >= self.max_ejection:
            self.ejections.pop(key, None)  # clean for long enough: start from the base time again
        times = self.ejections.get(key, 0)
        seconds = min(self.base_ejection * 2 ** times, self.max_ejection)
        self.ejections[key] = times + 1
        self.ejected_total[key] = self.ejected_total.get(key, 0) + 1
        self.failures.pop(key, None)
        log.warning("pools.%s server %s ejected for %gs after %d failed requests in a row",
                    self.pool.name, key, seconds, self.consecutive)
        server.owner.set_ejected(server, True)
        self.call_later(seconds, lambda: self.readmit(server))

    def readmit(self, server: Server) -> None:
        self.returned_at[server.key] = self.clock()
        log.info("pools.%s server %s returns after its ejection", self.pool.name, server.key)
        server.owner.set_ejected(server, False)
