"""A pool: its servers, its backups, and the algorithm that chooses among them.

The algorithm only ever sees the servers that may take traffic: the primaries that every
verdict admits (active checks, passive checks, circuit breaker, operator), or, when none is,
such backups (NGINX's ``backup``). ``refresh()`` recomputes that set and hands it to the
algorithm; it is called whenever a server's state changes, from the ``set_*`` methods, which
are the only places those states change.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence

from laneway.balancing import Balancer, PickContext
from laneway.upstream.retry_budget import RetryBudget
from laneway.upstream.retry_policy import RetryPolicy
from laneway.upstream.server import HALF_OPEN, NO_LIMIT, Server


class Pool:
    def __init__(self, name: str, servers: Sequence[Server], balancer: Balancer[Server], *,
                 connect_timeout: float = 5.0, response_timeout: float = 60.0,
                 hash_source: tuple[str, str] | None = None, retry: RetryPolicy | None = None,
                 proxy_protocol: str | None = None, clock: Callable[[], float] = time.monotonic,
                 tls: ssl.SSLContext | None = None, tls_server_name: str | None = None) -> None:
        self.name = name
        # TLS to the servers: the context, and the name sent by SNI and verified (each
        # server's host when None).
        self.tls = tls
        self.tls_server_name = tls_server_name
        # For the hash algorithm: where a request's key is, as (kind, name), e.g.
        # ("cookie", "sid"); the proxy reads it, the algorithm only sees the key.
        self.hash_source = hash_source
        self.retry = retry if retry is not None else RetryPolicy()
        self.retry_budget = RetryBudget(percent=self.retry.budget_percent,
                                        min_per_second=self.retry.budget_min_per_second)
        # "v1" or "v2": tcp listeners send the client's address to the servers first.
        self.proxy_protocol = proxy_protocol
        self.servers = list(servers)
        self.balancer = balancer
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.clock = clock
        # Round robin and friends keep no books: the proxy skips telling them of each
        # request's start and end, two calls per request on the hot path.
        self.tracks_requests = (type(balancer).on_start is not Balancer.on_start
                                or type(balancer).on_end is not Balancer.on_end)
        self.reads_client_address = balancer.reads_client_address
        # Passive checks and circuit breakers (laneway.health) hear each request's outcome.
        self.on_result: Callable[[Server, bool], None] | None = None
        self.failure_statuses: frozenset[int] = frozenset()
        # The error responses laneway answered itself, by status (502, 503, 504), for metrics.
        self.errors_total: dict[int, int] = {}
        for server in self.servers:
            server.pool = self
        self.available: list[Server] = []
        # Told after every change of a server's state, weight or membership (the supervisor
        # passes such changes on to its workers).
        self.on_change: Callable[[], None] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Hand the algorithm the servers that may take traffic now."""
        primaries = [s for s in self.servers if s.takes_traffic and not s.backup]
        self.available = primaries or [s for s in self.servers if s.takes_traffic and s.backup]
        self.balancer.update(self.available, self.clock())
        if self.on_change is not None:
            self.on_change()

    def _changed(self, server: Server) -> None:
        if not server.takes_traffic:
            server.connections.close_all()  # no request will use them
        self.refresh()

    def set_up(self, server: Server, up: bool) -> None:
        """The active checks' verdict; the algorithm is told at once."""
        if server.up != up:
            server.up = up
            self._changed(server)

    def set_ejected(self, server: Server, ejected: bool) -> None:
        """Passive checks' verdict, kept apart from the active checks' ``up``."""
        if server.ejected != ejected:
            server.ejected = ejected
            self._changed(server)

    def set_breaker(self, server: Server, state: str, *, trial_requests: int = 1) -> None:
        """The circuit breaker's state: closed, open, or half-open with ``trial_requests``."""
        server.limit = min(trial_requests, server.max_requests) if state == HALF_OPEN else server.max_requests
        if server.breaker != state:
            server.breaker = state
            self._changed(server)

    def set_state(self, server: Server, state: str) -> None:
        """The operator's say: ``ready``, ``drain`` (requests under way finish, no new ones)
        or ``maintenance`` (as drain, and health checks stop)."""
        if server.state != state:
            server.state = state
            self._changed(server)

    def set_weight(self, server: Server, weight: int) -> None:
        """The operator's weight for ``server``; the algorithm rebuilds with it at once."""
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")
        if server.weight != weight:
            server.weight = weight
            self._changed(server)

    def add_server(self, server: Server) -> None:
        """A new server, taking traffic at once if every verdict on it allows."""
        if any(s.key == server.key for s in self.servers):
            raise ValueError(f"pool {self.name!r} already has server {server.key}")
        server.pool = self
        self.servers.append(server)
        self._changed(server)

    def remove_server(self, server: Server) -> None:
        """Take ``server`` out of the pool. Requests under way to it finish: they hold the
        server itself, and their connections are closed, not kept, when they end."""
        self.servers.remove(server)
        server.connections.max_idle = 0  # a connection coming back is closed (give_back)
        server.connections.close_all()
        self.refresh()

    def server(self, key: str) -> Server | None:
        """The server whose address (``key``) is ``key``, or ``None``."""
        for server in self.servers:
            if server.key == key:
                return server
        return None

    def set_limits(self, server: Server, *, max_requests: int | None, max_connecting: int | None) -> None:
        server.max_requests = max_requests or NO_LIMIT
        server.max_connecting = max_connecting or NO_LIMIT
        half_open = server.breaker == HALF_OPEN
        server.limit = min(server.limit, server.max_requests) if half_open else server.max_requests

    def listen_results(self, listener: Callable[[Server, bool], None]) -> None:
        """Have ``listener`` hear each request's outcome (after those already listening)."""
        previous = self.on_result
        if previous is None:
            self.on_result = listener
            return

        def both(server: Server, ok: bool) -> None:
            previous(server, ok)
            listener(server, ok)

        self.on_result = both

    def report(self, server: Server, ok: bool) -> None:
        """A request to ``server`` ended: well (``ok``) or with a failure of the server's."""
        if self.on_result is not None:
            self.on_result(server, ok)

    def pick(self, context: PickContext, now: float | None = None) -> Server | None:
        """A server that may take this request, or ``None``.

        The algorithm's choice, unless that server is at a cap (``limits``, or the trial
        requests of a half-open breaker; ``Server.admits``): then the algorithm chooses again
        without it.
        """
        now = self.clock() if now is None else now
        server = self.balancer.pick(context, now)
        # The common case first, without a property call: no cap is near.
        if server is None or (server.in_flight < server.limit and server.connecting < server.max_connecting) \
                or server.admits:
            return server
        full = [*context.exclude, server]
        while True:
            server = self.balancer.pick(PickContext(context.client_address, context.hash_key, full), now)
            if server is None or server in full:
                return None
            if server.admits:
                return server
            full.append(server)

    @property
    def requests_total(self) -> int:
        return sum(server.requests_total for server in self.servers)

    def retry_allowed(self) -> bool:
        """Whether the retry budget lets one more retry start now."""
        return self.retry_budget.allows(self.requests_total)

    def tick(self) -> None:
        """Once a second: the retry budget's window moves on."""
        self.retry_budget.tick(self.requests_total)

    def close_idle(self) -> None:
        for server in self.servers:
            server.connections.close_all()

