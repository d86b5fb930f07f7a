"""Choosing a pool for a tcp connection: by the TLS server name, or one pool for all.

Routes are tried in order and the first match wins, as for HTTP routes. ``*.example.com``
matches any name that ends in ``.example.com`` (``a.example.com``, ``a.b.example.com``),
not ``example.com`` itself. The route without a match takes connections whose name matched
nothing, that carry no name, or that are not TLS at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from laneway.upstream import Pool


@dataclass(frozen=True, slots=True)
class SniRoute:
    pool: Pool
    sni: str | None = None  # lower case; "*.example.com" for subdomains; None matches all

    def matches(self, name: str | None) -> bool:
        if self.sni is None:
            return True
        if name is None:
            return False
        if self.sni.startswith("*."):
            return name.endswith(self.sni[1:])
        return name == self.sni


class TcpRoutes:
    def __init__(self, routes: Sequence[SniRoute]) -> None:
        self.routes = tuple(routes)
        # One catch-all route: nothing to read before connecting.
        only = self.routes[0] if len(self.routes) == 1 else None
        self.single: Pool | None = only.pool if only is not None and only.sni is None else None

    @property
    def reads_server_name(self) -> bool:
        return self.single is None

    def route(self, name: str | None) -> Pool | None:
        for route in self.routes:
            if route.matches(name):
                return route.pool
        return None
