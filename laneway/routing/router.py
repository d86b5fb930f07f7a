"""Choosing a pool for a request: routes are tried in order, the first match wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from laneway.upstream import Pool


@dataclass(frozen=True, slots=True)
class RouteRule:
    pool: Pool
    host: bytes | None = None  # lower-case, without port
    path_prefix: bytes | None = None

    def matches(self, host: bytes, path: bytes) -> bool:
        if self.host is not None and host != self.host:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class Router:
    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self.rules = tuple(rules)
        # A listener with one catch-all route needs no matching at all.
        only = self.rules[0] if len(self.rules) == 1 else None
        self.catch_all = only.pool if only and only.host is None and only.path_prefix is None else None

    def route(self, host: bytes, path: bytes) -> Pool | None:
        """The pool for a request to ``host`` (may carry a port) and ``path``, or ``None``."""
        if self.catch_all is not None:
            return self.catch_all
        host = host.split(b":", 1)[0].lower() if host[:1] != b"[" else host.lower()
        for rule in self.rules:
            if rule.matches(host, path):
                return rule.pool
        return None
