"""The http side of route caching: which requests consult a store, and the bytes of an
answer from a stored response.

Only routes with a ``cache`` reach this module (the client connection tests
``guard.cache`` and ``exchange.fill`` for ``None``, nothing more), so it stays out of the
compiled hot path.

Requests (``cache_fill`` decides once, at the request head):

- GET and HEAD without a body are looked up (``LOOKUP``); a GET that misses may fill the
  store, and waits for another GET for the same key already on its way (the lock).
- A client's ``Cache-Control: no-cache`` (or ``Pragma: no-cache``) skips the lookup and
  the wait, and its answer still refreshes the store (``REFRESH``); ``no-store`` skips the
  store altogether (``PASS``; RFC 9111 5.2.1.4, 5.2.1.5). NGINX ignores both unless told
  otherwise (``proxy_cache_bypass``) so that clients cannot push load onto servers; laneway
  honours them as the RFC says, because a client can already miss the cache at will with a
  fresh query string, so ignoring them protects nothing. These answers say ``X-Cache: BYPASS``.
- A ``Range`` request is a ``PASS`` too: the server answers the range, nothing is stored.
- The preconditions of a request the store may answer are kept from the server (as NGINX
  does), so that its answer is whole and can be stored, and evaluated by laneway on a hit
  (laneway.policies.cache.conditions); on a miss the client gets the whole answer.
- An unsafe method (POST, PUT, DELETE, PATCH...) answered without an error drops the
  stored entries of its target (``INVALIDATE``; RFC 9111 4.4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laneway.http.compression import compressor, encoded_fields, worth_compressing
from laneway.http.messages import status_line
from laneway.policies.cache import INVALIDATE, LOOKUP, PASS, REFRESH, Entry, Fill, RouteCache, header_in
from laneway.policies.cache.conditions import NOT_MODIFIED, PRECONDITION_FAILED, split_conditions
from laneway.policies.cache.freshness import directives
from laneway.policies.targets import absolute_form

if TYPE_CHECKING:
    from laneway.http.client import ClientConnection
    from laneway.http.exchange import Exchange
    from laneway.policies.compression import Compression
    from laneway.policies.edits import ResponseEdit

X_CACHE_HIT = b"\r\nX-Cache: HIT"
X_CACHE_MISS = b"\r\nX-Cache: MISS"
X_CACHE_BYPASS = b"\r\nX-Cache: BYPASS"
MISSING = b"\x00"  # a key header the request lacks (no header value can hold NUL)
# Methods that change nothing (RFC 9110 9.2.1): they neither use nor invalidate the store.
SAFE = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})


def cache_fill(cache: RouteCache, pool: str, host: bytes, target: bytes, headers: list[bytes],
               method: bytes, *, has_body: bool) -> Fill | None:
    """The fill that carries a request's key and headers to the store, or None when the
    request has nothing to do with the cache (a GET with a body, OPTIONS, TRACE)."""
    if method == b"GET" or method == b"HEAD":
        if has_body:
            return None
        mode = LOOKUP
        conditions: list[bytes] = []
        control = header_in(headers, b"cache-control")
        if control is not None:
            said = directives(control.lower())
            mode = PASS if b"no-store" in said else REFRESH if b"no-cache" in said else LOOKUP
        else:
            pragma = header_in(headers, b"pragma")  # HTTP/1.0's, read only without Cache-Control
            if pragma is not None and b"no-cache" in pragma.lower():
                mode = REFRESH
        if mode != PASS and header_in(headers, b"range") is not None:
            mode = PASS  # a part of a body: the server answers it, and nothing is stored
        if mode != PASS:
            headers, conditions = split_conditions(headers)
    elif method in SAFE:
        return None
    else:
        mode = INVALIDATE
        conditions = []
    # GET and HEAD share entries: the method class is GET for both. The pool is part of the
    # key so that the arms of a split never answer for each other. A target in absolute form
    # names the same resource as its path on its host (RFC 9112 3.2.2).
    host, target = absolute_form(target, host)
    key = (b"GET", pool.encode(), host.lower(), target,
           *(header_in(headers, name) or MISSING for name in cache.key_headers))
    fill = Fill(cache.store, key, headers, authorized=header_in(headers, b"authorization") is not None,
                valid=cache.valid)
    fill.mode = mode
    fill.conditions = conditions
    fill.lock_timeout = cache.lock_timeout if cache.lock and method == b"GET" else 0.0
    return fill


def cached_response(entry: Entry, now: float, status: int, *, head: bool, http11: bool, keep_alive: bool,
                    extra: bytes, compress: Compression | None = None, coding: bytes = b"",
                    edit: ResponseEdit | None = None) -> bytes:
    """A whole response from ``entry``: ``status`` (the entry's, or 304 or 412 from the
    request's preconditions), the entry's fields (none for a 412), laneway's framing,
    ``Age`` (RFC 9111 5.1), ``X-Cache: HIT`` and ``extra`` (CRLF-led lines), and the body
    unless it answers a HEAD or is a 304 or 412. ``compress``: the route's compression, and
    ``coding`` the one the client accepts (b"" for none); ``edit``: the route's response
    header edits, applied as to an answer from a server (``$server`` is unknown on a hit)."""
    whole = status == entry.status
    fields, body = entry.fields, entry.body
    if edit is not None:
        fields = edit.apply(fields, None)
    if compress is not None and whole and status == 200 and not head and body \
            and worth_compressing(fields, b"%d" % len(body), compress):
        # As for answers from servers (laneway.http.upstream), in one go: the body is whole.
        fields = encoded_fields(fields, coding)
        if coding:
            encoder = compressor(compress, coding)
            body = encoder.compress(body) + encoder.flush()
    parts = [status_line(status)[:-2], fields if status != PRECONDITION_FAILED else b""]
    if status == PRECONDITION_FAILED:
        parts.append(b"\r\nContent-Length: 0")
    elif status != 204 and status != NOT_MODIFIED:
        parts.append(b"\r\nContent-Length: %d" % len(body))
    parts.append(b"\r\nAge: %d" % int(entry.age(now)))
    parts.append(X_CACHE_HIT)
    if not keep_alive:
        parts.append(b"\r\nConnection: close")
    elif not http11:
        parts.append(b"\r\nConnection: keep-alive")
    parts.append(extra)
    parts.append(b"\r\n\r\n")
    if whole and not head:
        parts.append(body)
    return b"".join(parts)


class FillWaiter:
    """A request waiting for the same request's response on its way from a server into the
    store (NGINX's ``proxy_cache_lock``), for at most ``timeout`` seconds
    (``proxy_cache_lock_timeout``). Then, or when that response ends, stored or not, the
    client connection answers from the store or sends the request on itself."""

    __slots__ = ("client", "exchange", "timer", "waiting")

    def __init__(self, client: ClientConnection, exchange: Exchange, first: Fill, timeout: float) -> None:
        self.client = client
        self.exchange = exchange
        self.waiting = True
        first.wait(self.fill_ended)
        self.timer = client.loop.call_later(timeout, self.wake)

    def fill_ended(self) -> None:
        # Called from inside another connection's response parsing: go on from the loop.
        self.client.loop.call_soon(self.wake)

    def wake(self) -> None:
        if self.waiting:
            self.waiting = False
            self.timer.cancel()
            self.client.after_fill(self.exchange)
