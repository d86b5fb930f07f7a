"""Session persistence: a client's requests keep going to the server it first got.

Two ways to know the client, as HAProxy has them:

- ``CookiePersistence``: cookie insertion (HAProxy's ``cookie NAME insert indirect nocache``).
  The response to a client without a valid cookie gets ``Set-Cookie`` naming its server;
  later requests carrying it go to that server. The value is opaque and signed: 128 bits of
  HMAC-SHA256 of the pool's name and the server's address under a secret, looked up in a
  table per pool, so it says nothing of the address and a client cannot choose a server by
  writing its own. A forged, foreign or stale value is simply not in the table: the client
  is placed afresh. The cookie is taken out of the request before it goes to the server
  (``indirect``), is set only when missing or changed, and comes with
  ``Cache-Control: private`` so that a shared cache does not hand one client's cookie to
  everybody (``nocache``).
- ``SourcePersistence``: a stick table by client address (``stick on src``), bounded and
  expiring (``laneway.policies.stick_table``).

A remembered server is used while it *may keep* its clients: every health verdict admits it
(active and passive checks, circuit breaker) and the operator has not put it in
maintenance or removed it. A server set to ``drain`` keeps its clients and gets no new ones,
as in HAProxy ("drain only removes the server from load balancing but still allows it ... to
accept new persistent connections"). When the remembered server may not keep its client the
pool's algorithm picks another, and that one is remembered (a new cookie is set). When it is
only at its request cap (``limits``) the request goes elsewhere this once and the client
stays pinned. A retry goes to the server the retry chose, which is then remembered, never
back to the one that failed.

The per-pool tables are rebuilt only when the pool's set of servers changes (the pool hands
its algorithm a new ``available`` list then), so honouring a cookie costs a dict lookup.
State is kept per pool: a route that splits between pools remembers a server in each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Protocol

from laneway.balancing import PickContext
from laneway.policies.stick_table import StickTable
from laneway.upstream import Pool, Server
from laneway.upstream.server import MAINTENANCE, OPEN


class Client(Protocol):
    """What persistence reads of a request (``laneway.http``'s client connection)."""

    # Field lines as received, ``b"Name: value\r\n"``; the persistence cookie is taken out.
    headers: list[bytes]
    client_ip: bytes


def may_keep(server: Server, pool: Pool) -> bool:
    """Whether ``server`` may take the next request of a client pinned to it: every health
    verdict admits it and it is not in maintenance (``drain`` is fine); a backup only while
    the pool is running on its backups."""
    if not server.up or server.ejected or server.breaker == OPEN or server.state == MAINTENANCE:
        return False
    if server.backup:
        available = pool.available
        return bool(available) and available[0].backup
    return True


class Book:
    """One pool's servers by address, rebuilt when the pool's set of servers changes."""

    __slots__ = ("by_key", "seen")

    def __init__(self) -> None:
        self.seen: list[Server] | None = None  # the pool's ``available`` list it was built for
        self.by_key: dict[str, Server] = {}

    def refresh(self, pool: Pool) -> bool:
        """Rebuilt for the pool's servers if they changed; True if it was."""
        # The pool replaces ``available`` whenever a server is added, removed or changes
        # state: the same list object means the same servers.
        if pool.available is self.seen:
            return False
        self.seen = pool.available
        self.by_key = {server.key: server for server in pool.servers}
        return True


class Persistence:
    """A route's persistence; ``stick()`` starts it for one request."""

    def stick(self, client: Client, extra: bytes) -> Stick:
        """The request's ``Stick``; ``extra`` is the response header lines added already."""
        raise NotImplementedError

    def pick(self, stick: Stick, pool: Pool, context: PickContext, now: float,
             chosen: Server | None) -> Server | None:
        """The server for the request: ``chosen`` (a retry's) or the remembered one or the
        algorithm's; sets ``stick.response_extra``."""
        raise NotImplementedError


class Stick:
    """One request's persistence: its key (cookie value or client address) and the response
    header lines to send (the lines before, plus a Set-Cookie when one is due)."""

    __slots__ = ("extra", "key", "policy", "response_extra")

    def __init__(self, policy: Persistence, key: bytes | None, extra: bytes) -> None:
        self.policy = policy
        self.key = key
        self.extra = extra
        self.response_extra = extra

    def pick(self, pool: Pool, context: PickContext, now: float, chosen: Server | None) -> Server | None:
        return self.policy.pick(self, pool, context, now, chosen)


# ---------------------------------------------------------------------- cookie insertion


class CookieBook(Book):
    __slots__ = ("by_value", "set_cookie", "values")

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, bytes] = {}  # server key -> cookie value (kept across rebuilds)
        self.by_value: dict[bytes, Server] = {}
        self.set_cookie: dict[str, bytes] = {}  # server key -> the response header lines


class CookiePersistence(Persistence):
    def __init__(self, name: bytes, secret: bytes, *, max_age: int | None = None, path: bytes = b"/",
                 domain: bytes | None = None, secure: bool = False) -> None:
        self.name = name
        self.secret = secret
        attributes = b"; Path=" + path
        if domain is not None:
            attributes += b"; Domain=" + domain
        if max_age is not None:
            attributes += b"; Max-Age=%d" % max_age
        attributes += b"; HttpOnly; SameSite=Lax"
        if secure:
            attributes += b"; Secure"
        self.attributes = attributes
        self.books: dict[Pool, CookieBook] = {}

    def stick(self, client: Client, extra: bytes) -> Stick:
        return Stick(self, take_cookie(client.headers, self.name), extra)

    def book(self, pool: Pool) -> CookieBook:
        book = self.books.get(pool)
        if book is None:
            book = self.books[pool] = CookieBook()
        if book.refresh(pool):
            values = book.values
            for key in book.by_key:
                if key not in values:
                    values[key] = cookie_for(self.secret, pool.name, key)
                    book.set_cookie[key] = (b"\r\nSet-Cookie: %s=%s%s\r\nCache-Control: private"
                                            % (self.name, values[key], self.attributes))
            book.by_value = {values[key]: server for key, server in book.by_key.items()}
        return book

    def pick(self, stick: Stick, pool: Pool, context: PickContext, now: float,
             chosen: Server | None) -> Server | None:
        book = self.book(pool)
        server = chosen
        if server is None:
            value = stick.key
            remembered = book.by_value.get(value) if value is not None else None
            if remembered is not None and may_keep(remembered, pool) and remembered not in context.exclude:
                stick.response_extra = stick.extra
                if remembered.admits:
                    return remembered
                return pool.pick(context, now)  # at its cap: elsewhere this once, still pinned
            server = pool.pick(context, now)
        if server is None:
            stick.response_extra = stick.extra
            return None
        if book.values.get(server.key) == stick.key:
            stick.response_extra = stick.extra  # the client has it already
        else:
            stick.response_extra = stick.extra + book.set_cookie[server.key]
        return server


def cookie_for(secret: bytes, pool_name: str, server_key: str) -> bytes:
    """An opaque value naming one server of one pool: 128 bits of HMAC-SHA256, base64url."""
    digest = hmac.new(secret, f"{pool_name}\0{server_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=")


def take_cookie(headers: list[bytes], name: bytes) -> bytes | None:
    """The value of the cookie ``name`` in the Cookie header lines, which lose it (HAProxy's
    ``indirect``: the server never sees laneway's cookie). RFC 6265 5.4: pairs are separated
    by "; ". With several (a client may send a stale one beside a fresh one), the first wins."""
    wanted = name + b"="
    found: bytes | None = None
    for index in range(len(headers) - 1, -1, -1):  # backwards: lines may be removed
        line = headers[index]
        if line[:7].lower() != b"cookie:" or wanted not in line:
            continue
        kept = []
        for pair in line[7:-2].split(b";"):
            pair = pair.strip()
            if pair.startswith(wanted):
                found = pair[len(wanted):].strip(b' "')
            elif pair:
                kept.append(pair)
        if kept:
            headers[index] = line[:6] + b": " + b"; ".join(kept) + b"\r\n"
        else:
            del headers[index]
    return found


# ---------------------------------------------------------------------- stick table by address


class SourcePersistence(Persistence):
    def __init__(self, *, expire: float, max_entries: int, clock: Callable[[], float]) -> None:
        """``clock``: the event loop's time (a test's fake one), read for the table's expiry."""
        self.expire = expire
        self.max_entries = max_entries
        self.clock = clock
        self.tables: dict[str, StickTable] = {}  # by pool name
        self.books: dict[Pool, Book] = {}

    def stick(self, client: Client, extra: bytes) -> Stick:
        return Stick(self, client.client_ip, extra)

    def table(self, pool: Pool) -> StickTable:
        table = self.tables.get(pool.name)
        if table is None:
            table = self.tables[pool.name] = StickTable(expire=self.expire, max_entries=self.max_entries)
        return table

    def book(self, pool: Pool) -> Book:
        book = self.books.get(pool)
        if book is None:
            book = self.books[pool] = Book()
        book.refresh(pool)
        return book

    def pick(self, stick: Stick, pool: Pool, context: PickContext, now: float,
             chosen: Server | None) -> Server | None:
        key = stick.key
        if not key:
            return chosen if chosen is not None else pool.pick(context, now)  # no address: no table
        table = self.table(pool)
        moment = self.clock()
        server = chosen
        if server is None:
            remembered_key = table.get(key, moment)
            remembered = self.book(pool).by_key.get(remembered_key) if remembered_key is not None else None
            if remembered is not None and may_keep(remembered, pool) and remembered not in context.exclude:
                if remembered.admits:
                    return remembered
                return pool.pick(context, now)  # at its cap: elsewhere this once, still pinned
            server = pool.pick(context, now)
        if server is not None:
            table.put(key, server.key, moment)
        return server

    @property
    def entries(self) -> int:
        """Addresses remembered, over every pool of the route."""
        return sum(len(table) for table in self.tables.values())
