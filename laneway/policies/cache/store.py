"""A named cache store: responses in memory, bounded in bytes (NGINX's ``proxy_cache_path``
with ``max_size``), and the responses on their way into it.

Keys. A request's key is its method class (GET and HEAD share entries, as in NGINX: a HEAD
is answered from a GET's entry without the body, and a HEAD's response fills nothing since
it has no body), pool, host, target (path and query) and the values of the route's
``key_headers``. Under one key a store keeps one entry per combination of the values of
the request headers the response's ``Vary`` names (RFC 9111 4.1); the names come from the
most recently stored response for the key, and storing one with other names drops the
rest. ``invalidate`` drops every entry for a resource (the key without the header values),
as a cache must when an unsafe request to it succeeds (RFC 9111 4.4).

Bound. Every entry counts its body, its header fields and ``ENTRY_OVERHEAD`` for its key
and bookkeeping. An entry larger than ``max_entry_size`` is never stored; storing one that
brings the total above ``max_size`` evicts the least recently used entries first, so the
total never passes ``max_size``. Expired entries are dropped when they are looked up, and
otherwise age out of the LRU order.

Coalescing (NGINX's ``proxy_cache_lock``). ``Fill`` gathers one response from a server. A
fill that ``claim``\\s its key is the one request for that key on its way to a server; other
requests for the key ``wait`` on it and are called back when it ends, stored or not. The
store keeps no timers: the caller bounds the wait.

Time is passed in (the event loop's clock), never read here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from laneway.policies.cache.freshness import decide

# Bytes an entry is counted for beyond its fields and body: its key, the Entry object, the
# dict slot (a rough figure, so that many tiny entries cannot escape the bound).
ENTRY_OVERHEAD = 256

# Method class, pool, host, target (the resource, the first ``RESOURCE`` items), then the
# values of the route's key headers.
Key = tuple[bytes, ...]
RESOURCE = 4
Variant = tuple[bytes | None, ...]  # the request's values of the headers Vary names
Waiter = Callable[[], None]

# What a fill does with its request (``Fill.mode``).
LOOKUP = 0  # answer from the store if it can; else fetch, and store the answer
REFRESH = 1  # the client asked for a fresh answer (no-cache): fetch, and store the answer
PASS = 2  # the client said no-store: fetch, store nothing
INVALIDATE = 3  # an unsafe method (POST, PUT, DELETE...): if it succeeds, drop the resource's entries


def header_in(lines: list[bytes], lower_name: bytes) -> bytes | None:
    """The value of a header among request header lines (``b"Name: value\\r\\n"``)."""
    size = len(lower_name)
    for line in lines:
        if line[size:size + 1] == b":" and line[:size].lower() == lower_name:
            return line[size + 1:-2].strip(b" \t")
    return None


def without_age(fields: bytes) -> bytes:
    """The fields without Age: a stored response's age is laneway's to say (RFC 9111 5.1)."""
    if b"\r\nage:" not in fields.lower():
        return fields
    # Fields start with CRLF, so the first piece is empty and the join keeps that shape.
    return b"\r\n".join(line for line in fields.split(b"\r\n") if not line.lower().startswith(b"age:"))


class Entry:
    """One stored response: its status, header fields (CRLF-led, no framing fields) and body."""

    __slots__ = ("body", "fields", "initial_age", "key", "lifetime", "size", "status", "stored_at",
                 "variant")

    def __init__(self, key: Key, variant: Variant, status: int, fields: bytes, body: bytes, *,
                 stored_at: float, lifetime: float, initial_age: int) -> None:
        self.key = key
        self.variant = variant
        self.status = status
        self.fields = fields
        self.body = body
        self.size = len(fields) + len(body) + ENTRY_OVERHEAD
        self.stored_at = stored_at
        self.lifetime = lifetime
        self.initial_age = initial_age

    def age(self, now: float) -> float:
        """RFC 9111 4.2.3: the age the server gave, plus the time it has been stored."""
        return self.initial_age + (now - self.stored_at)

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.lifetime


class CacheStore:
    def __init__(self, name: str, max_size: int, max_entry_size: int) -> None:
        if max_size < 1 or not 1 <= max_entry_size <= max_size:
            raise ValueError(f"cache store {name!r}: need 1 <= max_entry_size <= max_size, "
                             f"got {max_entry_size} and {max_size}")
        self.name = name
        self.max_size = max_size
        self.max_entry_size = max_entry_size
        self.size = 0  # bytes counted for all entries
        # Least recently used first.
        self.entries: OrderedDict[tuple[Key, Variant], Entry] = OrderedDict()
        self.vary: dict[Key, tuple[bytes, ...]] = {}  # key: the header names its entries vary on
        self.variants: dict[Key, set[Variant]] = {}
        self.resources: dict[Key, set[Key]] = {}  # key[:RESOURCE]: the keys stored under it
        self.fills: dict[tuple[Key, Variant], Fill] = {}  # claimed fills, by lookup key
        # Counters, read by /metrics and the admin API.
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        self.stored = 0
        self.evicted = 0
        # With workers, the supervisor's store holds nothing itself: the entries its workers
        # hold (laneway.runtime.stats), which ``len()`` then gives.
        self.held_by_workers: int | None = None

    def __len__(self) -> int:
        return len(self.entries) if self.held_by_workers is None else self.held_by_workers

    def variant_of(self, key: Key, headers: list[bytes]) -> Variant:
        """The request's values of the headers the key's entries vary on."""
        names = self.vary.get(key)
        return () if not names else tuple(header_in(headers, name) for name in names)

    def lookup(self, key: Key, headers: list[bytes], now: float) -> Entry | None:
        """A fresh entry for the request, or None; an expired one found is dropped."""
        names = self.vary.get(key)
        if names is None:
            return None
        slot = (key, tuple(header_in(headers, name) for name in names) if names else ())
        entry = self.entries.get(slot)
        if entry is None:
            return None
        if not entry.fresh(now):
            self.remove(entry)
            return None
        self.entries.move_to_end(slot)
        return entry

    def put(self, entry: Entry, vary: tuple[bytes, ...]) -> bool:
        """Store ``entry`` (its variant taken for the header names ``vary``); False if too large."""
        if entry.size > self.max_entry_size:
            return False
        key = entry.key
        if self.vary.get(key, vary) != vary:
            # The server now varies on other headers: the old variants cannot be matched.
            for variant in list(self.variants.get(key, ())):
                self.remove(self.entries[(key, variant)])
        slot = (key, entry.variant)
        old = self.entries.get(slot)
        if old is not None:
            self.remove(old)
        self.vary[key] = vary
        self.variants.setdefault(key, set()).add(entry.variant)
        self.resources.setdefault(key[:RESOURCE], set()).add(key)
        self.entries[slot] = entry
        self.size += entry.size
        self.stored += 1
        while self.size > self.max_size:
            self.remove(next(iter(self.entries.values())))
            self.evicted += 1
        return True

    def remove(self, entry: Entry) -> None:
        key = entry.key
        del self.entries[(key, entry.variant)]
        self.size -= entry.size
        variants = self.variants[key]
        variants.discard(entry.variant)
        if not variants:
            del self.variants[key]
            del self.vary[key]
            keys = self.resources[key[:RESOURCE]]
            keys.discard(key)
            if not keys:
                del self.resources[key[:RESOURCE]]

    def invalidate(self, resource: Key) -> int:
        """Drop every entry for ``resource`` (a key's first ``RESOURCE`` items); how many."""
        dropped = 0
        for key in list(self.resources.get(resource, ())):
            for variant in list(self.variants.get(key, ())):
                self.remove(self.entries[(key, variant)])
                dropped += 1
        return dropped

    def clear(self) -> None:
        self.entries.clear()
        self.vary.clear()
        self.variants.clear()
        self.resources.clear()
        self.size = 0

    # ------------------------------------------------------------------ coalescing

    def claim(self, fill: Fill) -> Fill | None:
        """Make ``fill`` the one request for its lookup key, or return the one that already is."""
        current = self.fills.get(fill.slot)
        if current is not None:
            return current
        self.fills[fill.slot] = fill
        fill.claimed = True
        return None


class Fill:
    """One response on its way from a server into a store.

    The http side calls ``head`` when the response head comes (False: not storable, and the
    fill is over), ``body`` for each body chunk (False: too large, over), ``complete`` when
    the whole body has come, or ``abandon`` if it never will (the server failed, the body
    was cut short, the client left). Whichever comes first ends the fill and calls its
    waiters back; later calls do nothing.
    """

    __slots__ = ("authorized", "claimed", "conditions", "fields", "initial_age", "key", "lifetime",
                 "lock_timeout", "mode", "open", "parts", "request_headers", "size", "slot", "status",
                 "store", "valid", "vary", "waiters")

    def __init__(self, store: CacheStore, key: Key, request_headers: list[bytes], *,
                 authorized: bool, valid: dict[int, float]) -> None:
        self.store = store
        self.valid = valid
        self.key = key
        self.slot = (key, store.variant_of(key, request_headers))
        self.request_headers = request_headers  # for the values of the headers Vary names
        self.authorized = authorized
        self.mode = LOOKUP
        self.conditions: list[bytes] = []  # the request's preconditions, kept from the server
        self.lock_timeout = 0.0  # > 0: the first miss for the key goes on, others wait this long
        self.claimed = False
        self.open = True
        self.waiters: list[Waiter] = []
        self.status = 0
        self.fields = b""
        self.vary: tuple[bytes, ...] = ()
        self.lifetime = 0.0
        self.initial_age = 0
        self.parts: list[bytes] = []
        self.size = 0

    def wait(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)

    def head(self, status: int, fields: bytes, wall_clock: float) -> bool:
        """The response head (``fields`` as laneway copies them through); True if it may be
        stored. ``wall_clock``: seconds since the epoch, for Expires without Date."""
        if not self.open:
            return False
        if self.mode >= PASS:
            # RFC 9111 4.4: a non-error answer to an unsafe method invalidates the target URI.
            if self.mode == INVALIDATE and status < 400:
                self.store.invalidate(self.key[:RESOURCE])
            self.abandon()
            return False
        verdict = decide(status, fields, authorized=self.authorized, valid=self.valid,
                         wall_clock=wall_clock)
        if verdict is None:
            self.abandon()
            return False
        self.lifetime, self.initial_age, vary = verdict
        self.status = status
        self.fields = without_age(fields)
        self.vary = tuple(sorted({name.lower() for name in vary}))
        self.size = len(fields) + ENTRY_OVERHEAD
        self.parts = []
        return True

    def body(self, data: bytes) -> bool:
        if not self.open:
            return False
        self.size += len(data)
        if self.size > self.store.max_entry_size:
            self.abandon()
            return False
        self.parts.append(data)
        return True

    def complete(self, now: float) -> bool:
        """The whole body has come: store the entry. True if it was stored."""
        if not self.open or not self.status:
            self.abandon()
            return False
        store = self.store
        variant = tuple(header_in(self.request_headers, name) for name in self.vary)
        entry = Entry(self.key, variant, self.status, self.fields, b"".join(self.parts),
                      stored_at=now, lifetime=self.lifetime, initial_age=self.initial_age)
        stored = store.put(entry, self.vary)
        self.end()
        return stored

    def abandon(self) -> None:
        if self.open:
            self.end()

    def end(self) -> None:
        self.open = False
        self.parts = []
        if self.claimed:
            self.claimed = False
            if self.store.fills.get(self.slot) is self:
                del self.store.fills[self.slot]
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            waiter()
