"""Choosing where a request goes: routes are tried in order, the first match wins.

Cheap with many routes, and exactly first-match-wins:

- Exact hosts are indexed. When the router is built, each exact host gets its own chain: the
  routes naming that host (their host test then already passed) merged, in config order, with
  the routes naming no exact host (wildcard or no host). A request's host picks its chain with
  one dict lookup; a host no route names gets the chain of routes naming no exact host. Routes
  for other hosts are never tried.
- Runs of consecutive routes in a chain that test only a path prefix or only an exact path
  become one ``PathTable``: a dict lookup per distinct prefix length instead of one test per
  route, still answering the first of them that matches. When some routes of such a run test
  more (a method, a header...), it becomes a ``GuardedPathTable``: the same lookups find the
  routes whose path fits, and only those are tried, in config order. Runs of routes whose one condition
  is that the same header (or cookie, or query parameter) equals some value become one
  ``ValueTable``, a dict lookup (NGINX's ``map``).
- Routes with neither a path prefix nor an exact path (a path regex, only a method, a
  wildcard host...) are tried one by one. Headers, cookies and query parameters are read only when such a
  route is tried (``Facts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from laneway.policies.targets import absolute_form
from laneway.routing.request import Address, Facts, Request
from laneway.routing.rule import RouteRule

if TYPE_CHECKING:
    from laneway.routing.geoip import GeoIP
    from laneway.routing.rule import Target


class PathTable:
    """Consecutive routes testing only a path prefix or an exact path; the first match wins."""

    __slots__ = ("exact", "lengths", "prefixes", "size", "targets")

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self.targets = [rule.target for rule in rules]
        self.size = len(rules)
        self.exact: dict[bytes, int] = {}
        self.prefixes: dict[bytes, int] = {}
        for index, rule in enumerate(rules):
            if rule.path is not None:
                self.exact.setdefault(rule.path, index)  # an earlier route wins
            elif rule.path_prefix is not None:
                self.prefixes.setdefault(rule.path_prefix, index)
        self.lengths = sorted({len(prefix) for prefix in self.prefixes})

    def find(self, path: bytes) -> Target | None:
        best = self.exact.get(path, self.size)
        prefixes = self.prefixes
        available = len(path)
        for length in self.lengths:
            if length > available:
                break
            index = prefixes.get(path[:length])
            if index is not None and index < best:
                best = index
        return self.targets[best] if best < self.size else None


class GuardedPathTable:
    """Consecutive routes that each test a path prefix or an exact path, some with more
    conditions: the table finds the routes whose path fits, and only those are tried, in order."""

    __slots__ = ("exact", "lengths", "prefixes")

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self.exact: dict[bytes, list[tuple[int, RouteRule]]] = {}
        self.prefixes: dict[bytes, list[tuple[int, RouteRule]]] = {}
        for index, rule in enumerate(rules):
            if rule.path is not None:  # matches() checks a prefix given beside it
                self.exact.setdefault(rule.path, []).append((index, rule))
            elif rule.path_prefix is not None:
                self.prefixes.setdefault(rule.path_prefix, []).append((index, rule))
        self.lengths = sorted({len(prefix) for prefix in self.prefixes})

    def find(self, host: bytes, path: bytes, method: bytes, facts: Facts | None, peer: object,
             country: str | None) -> Target | None:
        hit = self.exact.get(path)
        found = list(hit) if hit is not None else []
        prefixes = self.prefixes
        available = len(path)
        for length in self.lengths:
            if length > available:
                break
            hit = prefixes.get(path[:length])
            if hit is not None:
                found += hit
        if len(found) > 1:
            found.sort(key=_first)  # config order
        for _, rule in found:
            if rule.matches(host, path, method, facts, peer, country):
                return rule.target
        return None


def _first(entry: tuple[int, RouteRule]) -> int:
    return entry[0]


class ValueTable:
    """Consecutive routes whose one condition is that the same header, cookie or query
    parameter equals one of some values (NGINX's ``map``); the first match wins."""

    __slots__ = ("kind", "name", "targets")

    def __init__(self, kind: str, name: bytes, rules: Sequence[RouteRule]) -> None:
        self.kind = kind
        self.name = name
        self.targets: dict[bytes, Target] = {}
        for rule in rules:
            for value in rule.values:
                self.targets.setdefault(value, rule.target)  # an earlier route wins

    def find(self, facts: Facts) -> Target | None:
        kind = self.kind
        value = (facts.header(self.name) if kind == "header" else facts.cookie(self.name) if kind == "cookie"
                 else facts.query(self.name))
        return None if value is None else self.targets.get(value)


Step = PathTable | GuardedPathTable | ValueTable | RouteRule
PATH = ("path", b"")


class Chain:
    """The routes one host's requests are tried against, in order."""

    __slots__ = ("needs_facts", "steps")

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        steps: list[Step] = []
        run: list[RouteRule] = []
        run_key: tuple[str, bytes] | None = None

        def end_run() -> None:
            if run_key == PATH:
                pure = all(rule.path_only for rule in run)
                steps.append(PathTable(run) if pure else GuardedPathTable(run))
            elif run_key is not None:
                steps.append(ValueTable(*run_key, run))

        for rule in rules:
            key = PATH if rule.path is not None or rule.path_prefix is not None else rule.keyed_on
            if key is not None and key == run_key:
                run.append(rule)
                continue
            end_run()
            run, run_key = [rule], key
            if key is None:
                run = []
                steps.append(rule)
                if rule.is_catch_all:
                    break  # nothing after it can be reached
        end_run()
        self.steps = tuple(steps)
        self.needs_facts = (any(isinstance(step, ValueTable) for step in steps)
                            or any(rule.needs_facts for rule in rules))


class Router:
    def __init__(self, rules: Sequence[RouteRule], default: Target | None = None, *,
                 geoip: GeoIP | None = None) -> None:
        self.rules = tuple(rules)
        self.default = default
        self.geoip = geoip
        # A listener with one catch-all route (or only a default) needs no matching at all.
        only = self.rules[0] if len(self.rules) == 1 else None
        self.catch_all: Target | None = None
        if only is not None and only.is_catch_all:
            self.catch_all = only.target
        elif not self.rules:
            self.catch_all = default
        self.needs_country = any(rule.countries is not None for rule in self.rules)
        if self.needs_country and geoip is None:
            raise ValueError("a route matches on country but no geoip database is configured")
        self.needs_client_address = self.needs_country or any(rule.networks for rule in self.rules)
        hosts = {rule.host for rule in self.rules if rule.host is not None}
        self.others = Chain([rule for rule in self.rules if rule.host is None])
        # Within a host's own chain its host test has passed already: drop it.
        self.by_host = {host: Chain([replace(rule, host=None) if rule.host == host else rule
                                     for rule in self.rules if rule.host in (host, None)])
                        for host in hosts}

    def route(self, host: bytes, url: bytes, method: bytes, request: Request) -> Target | None:
        """Where a request for ``host`` (as in the Host header) and ``url`` goes, or ``None``."""
        if self.catch_all is not None:
            return self.catch_all
        if url[:1] != b"/" and url != b"*":
            host, url = absolute_form(url, host)
        host = normal_host(host)
        chain = self.by_host.get(host, self.others)
        end = url.find(b"?")
        path = url if end < 0 else url[:end]
        facts = Facts(request, url) if chain.needs_facts else None
        peer = request.peer_address
        country = request.country
        for step in chain.steps:
            if isinstance(step, RouteRule):
                if step.matches(host, path, method, facts, peer, country):
                    return step.target
                continue
            if isinstance(step, PathTable):
                target = step.find(path)
            elif isinstance(step, ValueTable):
                target = step.find(facts)  # type: ignore[arg-type]  # a chain with one has facts
            else:
                target = step.find(host, path, method, facts, peer, country)
            if target is not None:
                return target
        return self.default

    def country_of(self, address: Address | None) -> str | None:
        """Looked up once per connection, on listeners with a route that matches on country."""
        return self.geoip.country(address) if self.geoip is not None else None


def normal_host(host: bytes) -> bytes:
    """A Host header's value as routes name hosts: lower-case, no port, no final dot."""
    if host[:1] == b"[":
        end = host.find(b"]")
        host = host[:end + 1] if end > 0 else host
    else:
        colon = host.find(b":")
        if colon >= 0:
            host = host[:colon]
    if host[-1:] == b".":
        host = host[:-1]
    return host.lower()
