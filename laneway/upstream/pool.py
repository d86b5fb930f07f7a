"""A pool: its servers, its backups, and the algorithm that chooses among them.

The algorithm only ever sees the servers that may take traffic: the primaries that are up
and not ejected, or, when none is, such backups (NGINX's ``backup``). ``refresh()`` recomputes that
set and hands it to the algorithm; it is called whenever a server's state changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from laneway.balancing import Balancer, PickContext
from laneway.upstream.server import Server


class Pool:
    def __init__(self, name: str, servers: Sequence[Server], balancer: Balancer[Server], *,
                 connect_timeout: float = 5.0, response_timeout: float = 60.0,
                 hash_source: tuple[str, str] | None = None, retries: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        # For the hash algorithm: where a request's key is, as (kind, name), e.g.
        # ("cookie", "sid"); the proxy reads it, the algorithm only sees the key.
        self.hash_source = hash_source
        self.retries = retries
        self.servers = list(servers)
        self.balancer = balancer
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.clock = clock
        # Round robin and friends keep no books: the proxy skips telling them of each
        # request's start and end, two calls per request on the hot path.
        self.tracks_requests = (type(balancer).on_start is not Balancer.on_start
                                or type(balancer).on_end is not Balancer.on_end)
        # Passive checks (laneway.health.outliers) hear each request's outcome here.
        self.on_result: Callable[[Server, bool], None] | None = None
        self.failure_statuses: frozenset[int] = frozenset()
        for server in self.servers:
            server.pool = self
        self.available: list[Server] = []
        self.refresh()

    def refresh(self) -> None:
        """Hand the algorithm the servers that may take traffic now."""
        primaries = [s for s in self.servers if s.up and not s.ejected and not s.backup]
        self.available = primaries or [s for s in self.servers if s.up and not s.ejected and s.backup]
        self.balancer.update(self.available, self.clock())

    def set_up(self, server: Server, up: bool) -> None:
        """The one place a server's health state changes; the algorithm is told at once."""
        if server.up != up:
            server.up = up
            self.refresh()

    def set_ejected(self, server: Server, ejected: bool) -> None:
        """Passive checks' verdict, kept apart from the active checks' ``up``."""
        if server.ejected != ejected:
            server.ejected = ejected
            self.refresh()

    def report(self, server: Server, ok: bool) -> None:
        """A request to ``server`` ended: well (``ok``) or with a failure of the server's."""
        if self.on_result is not None:
            self.on_result(server, ok)

    def pick(self, context: PickContext, now: float | None = None) -> Server | None:
        return self.balancer.pick(context, self.clock() if now is None else now)

    def close_idle(self) -> None:
        for server in self.servers:
            server.connections.close_all()
