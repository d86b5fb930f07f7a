"""One route's conditions, checked against a request; all of them must hold.

A rule holds its conditions in the request's own form (bytes, lower-case header names,
compiled patterns, networks), made once when the router is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, TypeAlias

from laneway.routing.request import Facts

if TYPE_CHECKING:
    from laneway.policies import Guard
    from laneway.routing.answer import Answer
    from laneway.routing.split import Split
    from laneway.upstream import Pool

    # A route's action: a pool, a split between pools, either behind the route's policies, or
    # an answer laneway gives itself.
    Target: TypeAlias = Pool | Split | Guard[Pool | Split] | Answer

Network = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """A test of one header, cookie or query value: present or absent, one of some values, or
    a pattern found in it. ``None`` given to ``test`` means the request does not have it."""

    present: bool | None = None
    equals: frozenset[bytes] | None = None
    regex: re.Pattern[bytes] | None = None

    def test(self, value: bytes | None) -> bool:
        if value is None:
            return self.present is False
        if self.equals is not None:
            return value in self.equals
        if self.regex is not None:
            return self.regex.search(value) is not None
        return self.present is True


@dataclass(frozen=True, slots=True)
class RouteRule:
    target: Target
    host: bytes | None = None  # exact, lower-case, without port
    host_suffix: bytes | None = None  # from *.example.com: b".example.com"
    path_prefix: bytes | None = None
    path: bytes | None = None
    path_regex: re.Pattern[bytes] | None = None
    methods: frozenset[bytes] | None = None
    headers: tuple[tuple[bytes, ValueMatch], ...] = ()  # (lower-case name, test)
    cookies: tuple[tuple[bytes, ValueMatch], ...] = ()
    query: tuple[tuple[bytes, ValueMatch], ...] = ()
    networks: tuple[Network, ...] = ()
    countries: frozenset[str] | None = None  # from the client address, by the geoip database

    @property
    def path_only(self) -> bool:
        """Only a path prefix or an exact path: the router looks such rules up in tables."""
        return (self.host is None and self.host_suffix is None and self.path_regex is None
                and self.methods is None and not self.headers and not self.cookies and not self.query
                and not self.networks and self.countries is None
                and (self.path_prefix is None) != (self.path is None))

    @property
    def keyed_on(self) -> tuple[str, bytes] | None:
        """``("header" | "cookie" | "query", name)`` when the rule's one condition is that this
        value equals one of some values: the router looks runs of such rules up in tables."""
        if (self.host is not None or self.host_suffix is not None or self.path_prefix is not None
                or self.path is not None or self.path_regex is not None or self.methods is not None
                or self.networks or self.countries is not None):
            return None
        tests = [("header", name, test) for name, test in self.headers]
        tests += [("cookie", name, test) for name, test in self.cookies]
        tests += [("query", name, test) for name, test in self.query]
        if len(tests) != 1 or tests[0][2].equals is None:
            return None
        kind, name, _ = tests[0]
        return kind, name

    @property
    def values(self) -> frozenset[bytes]:
        """The values a keyed rule accepts."""
        [(_, test)] = [*self.headers, *self.cookies, *self.query]
        return test.equals or frozenset()

    @property
    def needs_facts(self) -> bool:
        return bool(self.headers or self.cookies or self.query)

    @property
    def is_catch_all(self) -> bool:
        return (self.host is None and self.host_suffix is None and self.path_prefix is None
                and self.path is None and self.path_regex is None and self.methods is None
                and not self.needs_facts and not self.networks
                and self.countries is None)

    def matches(self, host: bytes, path: bytes, method: bytes, facts: Facts | None,
                peer: object, country: str | None) -> bool:
        """``host`` is lower-case without port; ``facts`` is given when ``needs_facts``."""
        if self.host is not None and host != self.host:
            return False
        suffix = self.host_suffix
        # *.example.com matches one or more labels before .example.com (as NGINX's
        # server_name), never example.com itself.
        if suffix is not None and not (host.endswith(suffix) and len(host) > len(suffix)):
            return False
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        if self.path is not None and path != self.path:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.path_regex is not None and self.path_regex.search(path) is None:
            return False
        if self.networks and (peer is None or not any(peer in network for network in self.networks)):
            return False
        if self.countries is not None and country not in self.countries:
            return False
        if facts is not None:
            for name, test in self.headers:
                if not test.test(facts.header(name)):
                    return False
            for name, test in self.cookies:
                if not test.test(facts.cookie(name)):
                    return False
            for name, test in self.query:
                if not test.test(facts.query(name)):
                    return False
        return True
