"""Building a listener's router from its routes: targets, the policies on them (rate limits,
persistence, edits, compression, caches), and what a reload carries over."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from laneway.config import Config
from laneway.config.schema import (
    LOCATION_VARIABLES,
    HeaderEdits,
    Listener,
    Match,
    RateKey,
    Route,
    ValueTest,
)
from laneway.config.schema import CacheStore as CacheStoreConfig
from laneway.config.schema import Persistence as PersistenceConfig
from laneway.config.variables import RESPONSE_VARIABLES, split_template
from laneway.policies import (
    BY_CLIENT,
    BY_HEADER,
    BY_ROUTE,
    Compression,
    CookiePersistence,
    Guard,
    HeaderEdit,
    PathRewrite,
    Persistence,
    RateLimiter,
    RegexPathRewrite,
    RouteEdits,
    SourcePersistence,
    Template,
)
from laneway.policies.cache import CacheStore, RouteCache
from laneway.routing import Answer, GeoIP, Router, RouteRule, Split, StickyCookie, ValueMatch
from laneway.upstream import Pool

if TYPE_CHECKING:
    from laneway.routing.rule import Target

log = logging.getLogger("laneway")


def build_router(listener: Listener, pools: dict[str, Pool], *, secret: bytes | None = None,
                 geoip: GeoIP | None = None, clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] | None = None,
                 caches: Mapping[str, CacheStore] | None = None) -> Router:
    """``secret`` signs sticky split cookies and persistence cookies that configure none (one
    per instance by default); ``clock`` (the event loop's time) ages stick tables;
    ``environ`` holds the secrets routes name with ``secret_env`` (``os.environ`` by default);
    ``caches`` are the stores routes cache into, by name."""
    instance_secret = secret or secrets.token_bytes(32)
    rules = []
    for route in listener.routes:
        answer = route_answer(route)
        if answer is not None:
            rules.append(build_rule(route.match, answer))
            continue
        target: Pool | Split
        if route.split is not None:
            sticky = None
            if route.sticky is not None:
                config = route.sticky
                sticky = StickyCookie(
                    config.cookie.encode(),
                    config.secret.encode() if config.secret is not None else instance_secret,
                    max_age=None if config.max_age is None else max(1, round(config.max_age)),
                    secure=listener.tls is not None)
            target = Split([(pools[arm.pool], arm.weight) for arm in route.split], sticky=sticky,
                           scope=listener.name)
        else:
            assert route.pool is not None  # the schema asks for pool or split
            target = pools[route.pool]
        if route.has_policies:
            guard = guarded(route, target, caches or {})
            if route.persistence is not None:
                guard.persistence = build_persistence(route.persistence, secure=listener.tls is not None,
                                                      secret=instance_secret, clock=clock,
                                                      environ=os.environ if environ is None else environ)
            rules.append(build_rule(route.match, guard))
        else:
            rules.append(build_rule(route.match, target))
    default = pools[listener.default_pool] if listener.default_pool is not None else None
    return Router(rules, default, geoip=geoip)


def route_answer(route: Route) -> Answer | None:
    """The answer of a route that laneway answers itself (respond or redirect), else None."""
    if route.respond is not None:
        respond = route.respond
        return Answer(respond.status, respond.body.encode(), respond.content_type.encode(),
                      b"".join(f"{name}: {value}\r\n".encode() for name, value in respond.headers.items()))
    if route.redirect is not None:
        return Answer(route.redirect.status,
                      location=Template(split_template(route.redirect.location, LOCATION_VARIABLES)))
    return None


def guarded(route: Route, target: Pool | Split, caches: Mapping[str, CacheStore]) -> Guard[Pool | Split]:
    """The route's target behind its policies (rate limit, body size, edits, compression, cache)."""
    guard: Guard[Pool | Split] = Guard(target, max_body_size=route.max_body_size)
    if route.cache is not None:
        cache = route.cache
        guard.cache = RouteCache(caches[cache.store], dict(cache.valid),
                                 tuple(name.lower().encode() for name in cache.key_headers),
                                 lock=cache.lock, lock_timeout=cache.lock_timeout)
    if route.compression is not None:
        settings = route.compression
        guard.compression = Compression(frozenset(kind.encode() for kind in settings.types),
                                        settings.min_length, settings.level, settings.brotli_quality)
    if route.edits_messages:
        guard.edits = route_edits(route)
    limit = route.rate_limit
    if limit is not None:
        guard.rate_limiter = RateLimiter(limit.rate, burst=limit.burst, nodelay=limit.nodelay,
                                         delay_after=limit.delay, max_keys=limit.max_keys)
        if isinstance(limit.key, RateKey):
            guard.rate_key, guard.rate_header = BY_HEADER, limit.key.header.lower().encode()
        else:
            guard.rate_key = BY_ROUTE if limit.key == "route" else BY_CLIENT
    return guard


def route_edits(route: Route) -> RouteEdits:
    path: PathRewrite | None = None
    rewrite = route.rewrite
    if rewrite is not None:
        if rewrite.strip_prefix is not None:
            path = PathRewrite(rewrite.strip_prefix.encode())
        elif rewrite.replace_prefix is not None:
            path = PathRewrite(rewrite.replace_prefix.prefix.encode(), rewrite.replace_prefix.to.encode())
        elif rewrite.regex is not None:
            path = RegexPathRewrite(rewrite.regex.pattern.encode(), rewrite.regex.replacement.encode())
    return RouteEdits(path=path, request=header_edit(route.request_headers),
                      response=header_edit(route.response_headers))


def header_edit(edits: HeaderEdits | None) -> HeaderEdit | None:
    if edits is None:
        return None

    def template(text: str) -> Template:
        return Template(split_template(text, list(RESPONSE_VARIABLES)))  # names checked by the schema

    return HeaderEdit(add=[(name, template(value)) for name, value in edits.add.items()],
                      set=[(name, template(value)) for name, value in edits.set.items()],
                      remove=edits.remove)


def build_persistence(config: PersistenceConfig, *, secure: bool, secret: bytes, clock: Callable[[], float],
                      environ: Mapping[str, str]) -> Persistence:
    """A route's session persistence. ``secret`` signs cookies when the config gives none;
    ``secure``: the listener has tls."""
    source = config.source
    if source is not None:
        return SourcePersistence(expire=source.expire, max_entries=source.max_entries, clock=clock)
    cookie = config.cookie
    assert cookie is not None  # the schema asks for cookie or source
    if cookie.secret_env is not None:
        secret = cookie_secret(cookie.secret_env, environ).encode()
    elif cookie.secret is not None:
        secret = cookie.secret.encode()
    max_age = None if cookie.max_age is None else max(1, round(cookie.max_age))
    return CookiePersistence(
        cookie.name.encode(), secret, max_age=max_age, path=cookie.path.encode(),
        domain=None if cookie.domain is None else cookie.domain.encode(),
        secure=secure if cookie.secure is None else cookie.secure)


def cookie_secret(name: str, environ: Mapping[str, str]) -> str:
    secret = environ.get(name, "")
    if len(secret) < 16:
        raise ValueError(f"persistence.cookie.secret_env: the environment variable {name} is "
                         f"{'not set or empty' if not secret else 'shorter than 16 characters'}; set it to "
                         "the same secret of 16 characters or more on every instance before starting laneway")
    return secret


def check_cookie_secrets(config: Config, environ: Mapping[str, str]) -> None:
    """Every ``secret_env`` a route names is set: checked before anything starts or changes."""
    for index, listener in enumerate(config.listeners):
        for number, route in enumerate(listener.routes):
            cookie = route.persistence.cookie if route.persistence is not None else None
            if cookie is not None and cookie.secret_env is not None:
                try:
                    cookie_secret(cookie.secret_env, environ)
                except ValueError as error:
                    raise ValueError(f"listeners[{index}].routes[{number}].{error}") from None


def keep_route_state(old: Router, new: Router) -> None:
    """A reload keeps what routes remember, for a route at the same place with the same
    settings: source persistence's tables (they name servers by address, so they fit the
    rebuilt pools; a server gone is simply not found) and the rate limit's counts (else a
    reload would hand every client a fresh burst)."""
    for before, after in zip(old.rules, new.rules, strict=False):
        if not isinstance(before.target, Guard) or not isinstance(after.target, Guard):
            continue
        kept, fresh = before.target.persistence, after.target.persistence
        if (isinstance(kept, SourcePersistence) and isinstance(fresh, SourcePersistence)
                and (kept.expire, kept.max_entries) == (fresh.expire, fresh.max_entries)):
            fresh.tables = kept.tables
        limiter, fresh_limiter = before.target.rate_limiter, after.target.rate_limiter
        if (limiter is not None and fresh_limiter is not None and limiter.same_settings(fresh_limiter)
                and (before.target.rate_key, before.target.rate_header)
                == (after.target.rate_key, after.target.rate_header)):
            after.target.rate_limiter = limiter


def build_rule(match: Match, target: Target) -> RouteRule:
    host = match.host.encode() if match.host is not None else None
    wildcard = host is not None and host.startswith(b"*.")
    return RouteRule(
        target,
        host=None if wildcard else host,
        host_suffix=host[1:] if host is not None and wildcard else None,
        path_prefix=match.path_prefix.encode() if match.path_prefix is not None else None,
        path=match.path.encode() if match.path is not None else None,
        path_regex=re.compile(match.path_regex.encode()) if match.path_regex is not None else None,
        methods=frozenset(method.encode() for method in match.method) if match.method else None,
        headers=value_matches(match.headers, lower=True),
        cookies=value_matches(match.cookies),
        query=value_matches(match.query),
        networks=tuple(ipaddress.ip_network(network, strict=False) for network in match.client_address or ()),
        countries=frozenset(match.country) if match.country is not None else None,
    )


def value_matches(tests: Mapping[str, ValueTest] | None, *, lower: bool = False,
                  ) -> tuple[tuple[bytes, ValueMatch], ...]:
    """Header names are compared in lower case (RFC 9110 5.1); cookie and query names as given."""
    return tuple(((name.lower() if lower else name).encode(), value_match(test))
                 for name, test in (tests or {}).items())


def value_match(test: ValueTest) -> ValueMatch:
    regex = getattr(test, "regex", None)  # headers only
    return ValueMatch(
        present=test.present,
        equals=frozenset(value.encode() for value in test.equals) if test.equals is not None else None,
        regex=re.compile(regex.encode()) if regex is not None else None,
    )


def build_caches(config: Mapping[str, CacheStoreConfig], previous: Mapping[str, CacheStore] | None = None,
                 previous_config: Mapping[str, CacheStoreConfig] | None = None) -> dict[str, CacheStore]:
    """The named cache stores; on a reload a store whose settings did not change is kept,
    entries and counters with it."""
    stores = {}
    for name, settings in config.items():
        kept = (previous or {}).get(name)
        if kept is not None and (previous_config or {}).get(name) == settings:
            stores[name] = kept
        else:
            stores[name] = CacheStore(name, settings.max_size, settings.max_entry_size)
    return stores
