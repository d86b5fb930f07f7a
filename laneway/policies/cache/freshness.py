"""Whether a server's response may be stored by a shared cache, and for how long (RFC 9111).

Contract: ``decide`` reads the status and the response's header fields (the block laneway
copies through: each field line led by CRLF, hop-by-hop fields and Content-Length already
taken out) and returns the response's freshness lifetime in seconds and its initial age,
or ``None`` when it must not be stored. It never serves stale content, so everything that
would need revalidation is simply not stored:

- ``no-store`` and ``private`` (RFC 9111 5.2.2.5, 5.2.2.7: laneway is a shared cache);
- ``no-cache`` (5.2.2.4: a stored response must be revalidated before each use, and
  laneway does not revalidate, so it does not store);
- ``Set-Cookie`` (a response that sets a cookie is meant for one client; NGINX's default);
- ``Vary: *`` (4.1: never matches a later request);
- a request with ``Authorization`` unless the response says ``public``, ``s-maxage`` or
  ``must-revalidate`` (3.5);
- a status laneway does not cache (``STORABLE``: 206 needs ranges, 304 a stored response).

The lifetime (4.2.1) is ``s-maxage`` if present (a shared cache's own), else ``max-age``,
else ``Expires`` minus ``Date``, else the route's ``valid`` default for the status (NGINX's
``proxy_cache_valid``), else nothing: laneway uses no heuristic freshness.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

# Statuses whose responses are complete representations laneway can answer with again.
STORABLE = frozenset({200, 203, 204, 300, 301, 302, 307, 308, 404, 405, 410, 414, 501})

# The fields freshness reads; the fields block has been lower-cased before matching.
_FIELD = re.compile(rb"\r\n(cache-control|expires|date|age|set-cookie|vary):[ \t]*([^\r]*)")
_DIRECTIVE = re.compile(rb"([a-z0-9!#$%&'*+.^_`|~-]+)(?:[ \t]*=[ \t]*(\"[^\"]*\"|[^,]*))?")


class ResponseFacts:
    """The fields of one response head that a cache acts on."""

    __slots__ = ("age", "cache_control", "date", "expires", "set_cookie", "vary")

    def __init__(self, fields: bytes) -> None:
        self.cache_control: dict[bytes, bytes] = {}
        self.expires: bytes | None = None
        self.date: bytes | None = None
        self.age = 0
        self.set_cookie = False
        self.vary: list[bytes] = []
        for match in _FIELD.finditer(fields.lower()):
            name, value = match.group(1), match.group(2).strip(b" \t")
            if name == b"cache-control":
                self.cache_control.update(directives(value))
            elif name == b"expires":
                self.expires = value
            elif name == b"date":
                self.date = value
            elif name == b"age":
                # RFC 9111 5.1: a non-negative integer; anything else is ignored.
                self.age = int(value) if value.isdigit() else self.age
            elif name == b"set-cookie":
                self.set_cookie = True
            else:
                self.vary.extend(token.strip(b" \t") for token in value.split(b",") if token.strip(b" \t"))


def directives(value: bytes) -> dict[bytes, bytes]:
    """``max-age=60, private`` as {b"max-age": b"60", b"private": b""} (names lower case)."""
    found: dict[bytes, bytes] = {}
    for part in value.split(b","):
        match = _DIRECTIVE.match(part.strip(b" \t"))
        if match:
            found[match.group(1)] = (match.group(2) or b"").strip(b'"')
    return found


def seconds(value: bytes | None) -> int | None:
    """A delta-seconds value (RFC 9111 1.2.2), or None when it is not one."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def http_date(value: bytes | None) -> float | None:
    """An HTTP date as seconds since the epoch, or None when it cannot be read."""
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


Verdict = tuple[float, int, list[bytes]]  # lifetime and initial age in seconds, Vary's names


def decide(status: int, fields: bytes, *, authorized: bool, valid: dict[int, float],
           wall_clock: float) -> Verdict | None:
    """(freshness lifetime, initial age, the names Vary lists), or None: not to be stored.

    ``authorized``: the request carried Authorization. ``valid``: the route's default
    lifetimes by status (0 for any status). ``wall_clock``: now, in seconds since the epoch,
    for an ``Expires`` without a ``Date``.
    """
    if status not in STORABLE:
        return None
    facts = ResponseFacts(fields)
    control = facts.cache_control
    if b"no-store" in control or b"private" in control or b"no-cache" in control:
        return None
    if facts.set_cookie or b"*" in facts.vary:
        return None
    if authorized and not (b"public" in control or b"s-maxage" in control or b"must-revalidate" in control):
        return None
    lifetime: float | None = None
    if b"s-maxage" in control:
        lifetime = seconds(control[b"s-maxage"])
    elif b"max-age" in control:
        lifetime = seconds(control[b"max-age"])
    elif facts.expires is not None:
        # RFC 9111 5.3: an invalid Expires (e.g. "0") means already expired.
        expires = http_date(facts.expires)
        date = http_date(facts.date)
        lifetime = 0.0 if expires is None else expires - (wall_clock if date is None else date)
    else:
        lifetime = valid.get(status, valid.get(0))
    if lifetime is None or lifetime - facts.age <= 0:
        return None
    return lifetime, facts.age, facts.vary
