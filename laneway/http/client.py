"""The client side of the layer 7 proxy: one ``ClientConnection`` per accepted connection.

It parses requests strictly (httptools/llhttp, plus the checks below), routes each to a pool,
takes a server and a connection to it, and streams the request through. The response comes
back through ``laneway.http.upstream.UpstreamConnection``, which writes to this connection's
transport.

Rules of this file:
- Nothing is written to a server while the bytes just received are being parsed: request
  bytes are queued on the exchange and flushed after ``feed_data`` returns, so a request that
  turns out malformed later in the same read never reaches a server.
- Every error is raised as ``HttpError`` (or a parser error) and answered in one place,
  ``data_received``.
- Reading from the client pauses for three reasons, kept as bits in ``paused``: a pipelined
  request waits for the one before it, request bytes wait for a server connection, or the
  server's socket buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from bisect import bisect_left
from collections import deque
from typing import TYPE_CHECKING, Final

import httptools

from laneway.balancing import NO_CONTEXT, PickContext
from laneway.http.caching import X_CACHE_BYPASS, X_CACHE_MISS, FillWaiter, cache_fill, cached_response
from laneway.http.client_certificate import client_certificate_headers
from laneway.http.compression import choose_coding
from laneway.http.errors import HttpError
from laneway.http.exchange import CONNECT_FAILURE, RESET, TIMEOUT, Exchange
from laneway.http.hash_key import read_hash_key
from laneway.http.lingering import Lingering
from laneway.http.messages import (
    CONNECTION,
    CONTENT_LENGTH,
    EXPECT,
    HOST,
    REQUEST_SPECIAL,
    TRANSFER_ENCODING,
    UPGRADE,
    X_FORWARDED_FOR,
    error_body,
    error_response,
    status_line,
)
from laneway.http.redirect import https_redirect
from laneway.http.upstream import UpstreamConnection
from laneway.policies import BY_CLIENT, BY_HEADER, Guard, RouteEdits, request_values
from laneway.policies.cache import INVALIDATE, LOOKUP
from laneway.policies.cache.conditions import evaluate
from laneway.policies.targets import absolute_form
from laneway.routing import Split, parse_client_address
from laneway.routing.answer import VALID_HOST, Answer
from laneway.upstream.latency import LATENCY_BOUNDS, count_time

if TYPE_CHECKING:
    from laneway.http.listener import HttpListener
    from laneway.policies.variables import Values
    from laneway.routing.request import Address
    from laneway.upstream import Pool, Server

log = logging.getLogger("laneway.http")

# Methods that may be sent again when a server fails before answering (RFC 9110 9.2.2).
IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})

# The access log's status for a request whose client left before its answer (NGINX's 499).
CLIENT_CLOSED: Final = 499

# Host values found valid, so that each is checked once per process, not once per connection
# (a connection per request would pay a regular expression each); emptied when it grows past
# MAX_VALID_HOSTS, as it would with clients naming hosts at random.
VALID_HOSTS: Final[set[bytes]] = set()
MAX_VALID_HOSTS: Final = 4096

# Request bytes held for a server before reading from the client pauses.
HIGH_WATER: Final = 256 * 1024

PAUSE_PIPELINE: Final = 1  # a pipelined request waits for the response before it
PAUSE_BUFFER: Final = 2  # request bytes wait for a connection to a server
PAUSE_UPSTREAM: Final = 4  # the server's socket buffer is full
PAUSE_DONE: Final = 8  # the client said Connection: close; nothing more may follow

# What the client-side deadline means when it passes.
IDLE: Final = 0
WAITING_HEAD: Final = 1
WAITING_BODY: Final = 2
SENDING: Final = 3


class NoCallbacks:
    """What a parser of a closed connection calls: nothing (it is never fed)."""


# Put in place of a closed connection's parser, to break the cycle through its callbacks.
CLOSED_REQUEST_PARSER = httptools.HttpRequestParser(NoCallbacks())


class RateLimited(Exception):
    """A route's rate limit refused a request; it may be tried again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class ClientConnection(asyncio.Protocol):
    def __init__(self, listener: HttpListener) -> None:
        # Global state (copied from the listener: read once per request, not looked up)
        self.listener = listener
        self.loop = listener.loop
        self.clock = listener.loop.time  # bound once: a method looked up per call costs more
        self.proto = listener.scheme
        self.reconfigure()

        # Per-connection state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = b""
        # The head's last lines when the client sent no X-Forwarded-For: the same for every
        # request of the connection, so written once.
        self.forwarded_lines = b""
        self.peer_address: Address | None = None  # only when a route matches on it
        self.country: str | None = None  # likewise
        self.client_cert_headers = b""  # on listeners that verify client certificates
        self.client_host: str | None = None
        self.client_context: PickContext | None = None  # made for the algorithms that read it
        self.paused = 0
        self.write_blocked = False
        self.closed = False
        self.closing = False  # finish the current exchange, then close
        self.feeding = False
        self.current: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.deferred_error: HttpError | None = None
        # Where the client's bytes go instead of the parser: the server, once it switched
        # protocols; nowhere, while the connection lingers before its close.
        self.tunnel: UpstreamConnection | Lingering | None = None
        self.upgrading: Exchange | None = None
        # What the client sent after its upgrade request: held until the server's 101 (if
        # another answer comes, it is dropped with the connection; it never reaches a server).
        self.held: list[bytes] = []
        self.held_size = 0
        self.deadline = 0.0
        self.deadline_kind = IDLE

        # Per-request state, while a request head is parsed
        self.parsing: Exchange | None = None
        self.in_head = False
        self.head_bytes = 0
        self.url = b""
        self.headers: list[bytes] = []
        self.header_size = 0
        self.host: bytes | None = None
        self.host_count = 0
        self.content_length: bytes | None = None
        self.transfer_encoding: bytes | None = None
        self.connection_tokens: bytes | None = None
        self.upgrade: bytes | None = None
        self.forwarded_for: bytes | None = None
        self.hash_key: str | None = None

    def reconfigure(self) -> None:
        """Take the listener's routes and settings (at the start, and after a reload)."""
        listener = self.listener
        self.router = listener.router
        # A listener whose only route takes every request: no call to the router per request.
        self.catch_all = listener.router.catch_all
        self.redirect = listener.redirect
        settings = listener.settings
        self.access_log = listener.access_log
        self.request_id_header = settings.request_id_header
        # Read on every request: kept here, where reading them costs no lookup by name.
        self.header_timeout = settings.header_timeout
        self.idle_timeout = settings.idle_timeout
        self.body_timeout = settings.body_timeout
        self.max_request_line = settings.max_request_line
        self.max_header_size = settings.max_header_size

    def locate_peer(self) -> None:
        """The client's address and country, only for routes that match on them (when the
        connection is made, and after a reload that may bring such routes)."""
        router = self.router
        if router.needs_client_address:
            peer = self.transport.get_extra_info("peername")
            self.peer_address = parse_client_address(peer[0] if peer else None)
            self.country = router.country_of(self.peer_address) if router.needs_country else None

    def context_for(self, pool: Pool) -> PickContext:
        """What the pool's algorithm may read of this connection: the client's address for
        the algorithms that read it (``ip_hash``), made once; nothing for the others, so that
        a connection to a round robin pool costs no allocation for it."""
        if not pool.reads_client_address:
            return NO_CONTEXT
        context = self.client_context
        if context is None:
            context = self.client_context = PickContext(client_address=self.client_host)
        return context

    # ------------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_host = peer[0] if peer else None
        self.client_ip = self.client_host.encode() if self.client_host is not None else b""
        self.forwarded_lines = self.forwarded(b"")
        if self.router.needs_client_address:
            self.locate_peer()
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        if self.listener.verifies_clients:
            self.client_cert_headers = client_certificate_headers(transport)
        self.listener.connections.add(self)
        self.listener.sweeper.watched.add(self)
        # The first request must start within the header timeout; an empty connection is
        # then closed without an answer, as NGINX and HAProxy do.
        self.deadline = self.clock() + self.header_timeout
        self.deadline_kind = IDLE

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        self.listener.sweeper.watched.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
        for exchange in (self.current, *self.queue):
            if exchange is not None:
                self.abandon(exchange)
        self.current = None
        self.queue.clear()
        # The parser holds this connection's bound callbacks: a reference cycle that only
        # the garbage collector would free, once per connection (a collection pass every
        # few thousand connections, in the latency of whichever request meets it).
        self.parser = CLOSED_REQUEST_PARSER

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.upgrading is not None:
            self.hold(data)
            return
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.feeding = False
            self.start_upgrade(data[upgrade.args[0]:])
            return
        except httptools.HttpParserCallbackError as error:
            self.feeding = False
            cause = error.__context__
            if isinstance(cause, HttpError):
                self.fail(cause)
            else:
                log.exception("internal error while parsing a request", exc_info=cause)
                self.fail(HttpError(500, "internal error"))
            self.flush()  # the whole requests before the bad bytes are still answered, in order
            return
        except httptools.HttpParserError as error:
            self.feeding = False
            if not (self.paused & PAUSE_DONE and self.parsing is None):
                # (Bytes after a request that said Connection: close are not requests, RFC
                # 9112 9.6: what came before them is answered, then the connection closed.)
                self.fail(HttpError(400, f"malformed request: {error}"))
            self.flush()
            return
        self.feeding = False
        if self.in_head:
            if self.head_bytes < 0:
                # The head began in this read, perhaps after the end of a body: what it has
                # shown so far (llhttp holds back at most a field in the making).
                self.head_bytes = len(self.url) + self.header_size
            else:
                self.head_bytes += len(data)
            if self.head_bytes > self.max_request_line + self.max_header_size:
                self.fail(HttpError(431, "request header section too large") if self.headers or self.host
                          else HttpError(414, "request line too long"))
                self.flush()
                return
        self.flush()

    def eof_received(self) -> bool | None:
        # A client that half-closes after its request still gets the answer, then the close.
        # TLS has no half-close: the TLS layer closes the connection whatever this returns
        # (and warns when it is true).
        self.closing = True
        return self.current is not None and self.listener.tls is None

    def pause_writing(self) -> None:
        self.write_blocked = True
        # A client that stops reading its response is cut off after the idle timeout
        # (NGINX's send_timeout); until then the server side waits without a deadline.
        self.deadline = self.clock() + self.idle_timeout
        self.deadline_kind = SENDING
        if self.tunnel is not None:
            self.tunnel.pause_reading()  # the server sends faster than the client reads
            return
        current = self.current
        if current is not None and current.upstream is not None:
            current.upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_blocked = False
        if self.deadline_kind == SENDING and not self.closed:
            # Back to the deadline the client's sending had, if it is still sending.
            if self.in_head:
                self.deadline = self.clock() + self.header_timeout
                self.deadline_kind = WAITING_HEAD
            elif self.parsing is not None:
                self.deadline = self.clock() + self.body_timeout
                self.deadline_kind = WAITING_BODY
            else:
                self.deadline = 0.0
                self.deadline_kind = IDLE
        if self.tunnel is not None:
            self.tunnel.resume_reading()
            return
        current = self.current
        if current is not None and current.upstream is not None:
            current.upstream.resume_reading()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = -1  # counted from the end of the read it began in (data_received)
        self.url = b""
        self.headers = []
        self.header_size = 0
        self.host = None
        self.host_count = 0
        self.content_length = None
        self.transfer_encoding = None
        self.connection_tokens = None
        self.upgrade = None
        self.forwarded_for = None
        self.deadline = self.clock() + self.header_timeout
        self.deadline_kind = WAITING_HEAD

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.max_request_line:
            raise HttpError(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.in_head:
            return  # a trailer field of a chunked body: dropped (RFC 9112 7.1.2)
        self.header_size += len(name) + len(value) + 4
        if self.header_size > self.max_header_size:
            raise HttpError(431, "request header section too large")
        lower = name.lower()
        if lower not in REQUEST_SPECIAL:
            self.headers.append(b"%s: %s\r\n" % (name, value))
        elif lower == HOST:
            self.host = value
            self.host_count += 1
        elif lower == CONTENT_LENGTH:
            self.content_length = value  # llhttp rejects duplicates and non-digits
        elif lower == TRANSFER_ENCODING:
            te = self.transfer_encoding
            self.transfer_encoding = value if te is None else te + b"," + value
        elif lower == CONNECTION:
            tokens = self.connection_tokens
            self.connection_tokens = value.lower() if tokens is None else tokens + b"," + value.lower()
        elif lower == UPGRADE:
            self.upgrade = value
        elif lower == EXPECT:
            # Passed on: the server answers 100 Continue (or refuses) and laneway relays it.
            self.headers.append(b"%s: %s\r\n" % (name, value))
        elif lower == X_FORWARDED_FOR:
            ff = self.forwarded_for
            self.forwarded_for = value if ff is None else ff + b", " + value
        # Every other special header is hop-by-hop or set by laneway: dropped.

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        if keep_alive and self.connection_tokens is None:
            # Without a Connection header llhttp keeps only HTTP/1.1 alive; asking for the
            # version builds a string, a cost every request would pay.
            http11 = True
        else:
            version = parser.get_http_version()
            if version == "1.1":
                http11 = True
            elif version == "1.0":
                http11 = False
            elif version in ("2.0", "3.0"):
                raise HttpError(505, f"HTTP/{version} is not supported over this connection; use HTTP/1.1")
            else:
                raise HttpError(400, f"HTTP/{version} is not supported; use HTTP/1.1")
        method: bytes = parser.get_method()
        if method == b"CONNECT":
            raise HttpError(405, "CONNECT is not supported by this proxy")
        # RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks a Host
        # header field and to any request that contains more than one.
        if self.host_count > 1:
            raise HttpError(400, "more than one Host header")
        if http11 and self.host_count == 0:
            raise HttpError(400, "missing Host header")
        url = self.url
        if b"#" in url:
            # No fragment is sent in a request (RFC 9110 7.1); a server or a path route
            # could read one as part of the path.
            raise HttpError(400, "the request target has a fragment (#); leave it out")
        if not url.startswith(b"/"):
            self.take_target_authority(url)
        host = self.host
        if host is not None and host not in VALID_HOSTS:
            # RFC 9112 3.2: a Host that is not a host[:port] gets a 400.
            if VALID_HOST.fullmatch(host) is None:
                raise HttpError(400, "the Host header is not a host name or address")
            if len(VALID_HOSTS) >= MAX_VALID_HOSTS:
                VALID_HOSTS.clear()
            VALID_HOSTS.add(host)
        chunked = False
        if self.transfer_encoding is not None:
            chunked = True
            if not http11:
                # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is a sign of smuggling.
                raise HttpError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
            codings = [c.strip().lower() for c in self.transfer_encoding.split(b",")]
            if codings != [b"chunked"]:
                # RFC 9112 6.3: chunked must be the final coding, else 400; laneway forwards
                # no other coding (RFC 9112 6.1: unknown coding SHOULD get 501).
                if codings[-1] != b"chunked" or b"chunked" in codings[:-1]:
                    raise HttpError(400, "Transfer-Encoding must end with a single chunked")
                raise HttpError(501, "only Transfer-Encoding: chunked is supported")
        has_body = chunked or (self.content_length is not None and self.content_length.strip(b" \t0") != b"")
        upgrade = self.upgrade is not None and self.connection_tokens is not None and (
            b"upgrade" in self.connection_tokens)

        if self.redirect is not None:  # answered here: nothing goes to a server
            answer = https_redirect(self.redirect, self.host, self.url)
            self.answer_here(answer, method, http11, keep_alive and not upgrade, has_body)
            return
        target = self.catch_all
        if target is None:
            target = self.router.route(self.host or b"", self.url, method, self)
        if target is None or isinstance(target, Answer):
            self.answer_here(target, method, http11, keep_alive and not upgrade, has_body)
            return
        guard = None
        if isinstance(target, Guard):
            guard = target
            target = guard.target
        response_extra = b""
        if isinstance(target, Split):
            pool, response_extra = target.choose(self)
        else:
            pool = target
        try:
            delay = self.admit(guard) if guard is not None else 0.0
        except RateLimited as refused:
            # Answered here, in the request's turn, and the connection kept (as NGINX does).
            self.answer_here(None, method, http11, keep_alive and not upgrade, has_body, status=429,
                             retry_after=refused.retry_after)
            return
        stick = None
        if guard is not None and guard.persistence is not None:
            # Before the head for the server is built: the persistence cookie is taken out.
            stick = guard.persistence.stick(self, response_extra)

        fill = None
        if guard is not None and guard.cache is not None and not upgrade:
            fill = cache_fill(guard.cache, pool.name, self.host or b"", self.url, self.headers, method,
                              has_body=has_body)
            if fill is not None and fill.conditions:
                # Preconditions are laneway's to answer for a request the store may answer: the
                # server gets them not, so that its answer is whole and can be stored (caching.py).
                self.headers = fill.request_headers

        request_id = None
        extra = b""
        if self.request_id_header is not None:
            request_id = self.header_value(self.request_id_header)
            if request_id is None:
                request_id = self.listener.new_request_id()
                extra = b"%s: %s\r\n" % (self.request_id_header, request_id)
        values: Values | None = None
        if guard is None or guard.edits is None:
            head = self.request_head(method, pool.name, chunked, upgrade, extra)
        else:
            values = request_values(self.client_ip, request_id, self.host, self.proto, self.url)
            head = self.edited_head(guard.edits, values, method, pool.name, chunked, upgrade, extra)
        if pool.hash_source is not None:
            # Read now: the headers are gone by the time a pipelined request starts.
            self.hash_key = read_hash_key(pool.hash_source, self.url, self.headers)
        exchange = Exchange(self, pool, head, http11=http11, keep_alive=keep_alive, chunked=chunked,
                            is_head=method == b"HEAD", upgrade=upgrade, started_at=self.clock())
        if self.access_log is not None:
            self.note_for_log(exchange, method, request_id)
        marker = pool.retry.idempotency_header
        if method in IDEMPOTENT or (marker is not None and self.header_value(marker) is not None):
            exchange.idempotent = True
            if has_body and not upgrade:
                exchange.keep_room = pool.retry.body_limit
        total = pool.retry.total_timeout
        if total is not None:
            exchange.deadline_at = exchange.started_at + total
        exchange.response_extra = response_extra
        if guard is not None:
            if guard.compression is not None:
                accept = self.header_value(b"accept-encoding")
                exchange.compress = guard.compression
                exchange.coding = (choose_coding(accept) if accept is not None else None) or b""
            if guard.edits is not None and values is not None:
                exchange.response_edit = guard.edits.for_response(values)
            if chunked and guard.max_body_size is not None:
                exchange.body_room = guard.max_body_size
            exchange.fill = fill
            if delay > 0:
                exchange.not_before = self.clock() + delay
            exchange.stick = stick
        if pool.hash_source is not None:
            exchange.context = PickContext(self.context_for(pool).client_address, self.hash_key)
        self.enqueue(exchange, has_body)

    def take_target_authority(self, url: bytes) -> None:
        """A request target in absolute form (``http://host/path``): its authority replaces
        the Host header, and the server is sent the origin form (RFC 9112 3.2.2), so that no
        server reads a host other than the one laneway routed on."""
        scheme_end = url.find(b"://")
        if scheme_end < 0:
            return  # "*" of OPTIONS, or CONNECT's authority: answered as they are
        if url[:scheme_end].lower() not in (b"http", b"https"):
            raise HttpError(400, "a request target in absolute form must be an http or https URI")
        host, target = absolute_form(url, b"")
        if not url.startswith(host, scheme_end + 3):  # absolute_form dropped a user@ before it
            raise HttpError(400, "the request target has user information (user@); leave it out")
        self.host, self.url = host, target

    def answer_here(self, answer: Answer | None, method: bytes, http11: bool, keep_alive: bool,
                    has_body: bool, *, status: int = 404, retry_after: float = 0.0) -> None:
        """Queue a response laneway makes itself: the route's ``answer``, or (without one) a
        404 when no route matches or a 429 from a rate limit. The connection stays open, and
        a request body is read and dropped first, as NGINX does; a client that waits for
        ``100 Continue`` before sending its body gets the answer at once, and the close."""
        if has_body and self.header_value(EXPECT) is not None:
            keep_alive = False
        extra = b""
        if answer is None:
            detail = "no route matches this request" if status == 404 else "too many requests; slow down"
            body = error_body(status, detail)
            content_type = b"text/plain; charset=utf-8"
            if status == 429:
                extra = b"Retry-After: %d\r\n" % max(1, math.ceil(retry_after))
        else:
            status, body, content_type = answer.status, answer.body, answer.content_type
            extra = answer.headers
            if answer.location is not None:
                location = answer.location_for(self.proto, self.host or b"", self.url)
                if location is None:
                    raise HttpError(400, "the Host header is not a host name or address; cannot redirect")
                extra += b"Location: %s\r\n" % location
        connection = b"" if keep_alive and http11 else b"Connection: keep-alive\r\n" if keep_alive \
            else b"Connection: close\r\n"
        response = b"%sContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n%s" % (
            status_line(status), content_type, len(body), extra, connection,
            b"" if method == b"HEAD" else body)
        exchange = Exchange(self, None, b"", http11=http11, keep_alive=keep_alive, chunked=False,
                            is_head=method == b"HEAD", upgrade=False, started_at=self.clock())
        exchange.local = response
        exchange.status = status
        if self.access_log is not None:
            self.note_for_log(exchange, method, None)
        self.enqueue(exchange, has_body)

    def note_for_log(self, exchange: Exchange, method: bytes, request_id: bytes | None) -> None:
        referer, agent = self.header_value(b"referer"), self.header_value(b"user-agent")
        exchange.log_facts = (
            method.decode("latin-1"), self.url.decode("latin-1"), (self.host or b"").decode("latin-1"),
            self.client_ip.decode(), None if request_id is None else request_id.decode("latin-1"),
            None if referer is None else referer.decode("latin-1"),
            None if agent is None else agent.decode("latin-1"), time.monotonic())

    def enqueue(self, exchange: Exchange, has_body: bool) -> None:
        """The parsed request's exchange starts now, or after the ones before it."""
        self.parsing = exchange
        if has_body:
            self.deadline = self.clock() + self.body_timeout
            self.deadline_kind = WAITING_BODY
        else:
            self.deadline = 0.0
        if self.current is None:
            self.current = exchange
            self.begin(exchange)
        else:
            self.queue.append(exchange)
            self.pause(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        assert exchange is not None
        if exchange.local is not None:
            # Answered by laneway: the body is read and dropped.
            self.deadline = self.clock() + self.body_timeout
            return
        if exchange.body_room >= 0:
            exchange.body_room -= len(body)
            if exchange.body_room < 0:
                raise HttpError(413, "request body larger than this route allows")
        if exchange.chunked:
            exchange.send(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            exchange.send(body)
        self.deadline = self.clock() + self.body_timeout
        if exchange.pending_size > HIGH_WATER:
            self.pause(PAUSE_BUFFER)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        self.parsing = None
        exchange.request_complete = True
        if exchange.local is not None and self.current is exchange:
            self.loop.call_soon(self.answer_due, exchange)
        if exchange.chunked:
            exchange.send(b"0\r\n\r\n")
        if self.deadline_kind == WAITING_BODY:
            self.deadline = 0.0
        if not exchange.client_keep_alive:
            self.pause(PAUSE_DONE)

    # ------------------------------------------------------------------ building the request

    def header_value(self, lower_name: bytes) -> bytes | None:
        """The value of a forwarded header (``lower_name`` in lower case), or None."""
        size = len(lower_name)
        for line in self.headers:
            if line[size:size + 1] == b":" and line[:size].lower() == lower_name:
                return line[size + 1:-2].strip()
        return None

    def request_head(self, method: bytes, pool_name: str, chunked: bool, upgrade: bool, extra: bytes = b"",
                     target: bytes | None = None, host: bytes | None = None,
                     headers: list[bytes] | None = None) -> bytes:
        """``target``, ``host``, ``headers``: a route's edit of the client's (``edited_head``)."""
        if headers is None:
            headers = self.headers
        tokens = self.connection_tokens
        if tokens is not None:
            named = {t.strip() for t in tokens.split(b",")} - {b"close", b"keep-alive", b"upgrade", b""}
            if named:
                # RFC 9110 7.6.1: a proxy removes the headers the Connection header names.
                headers = [h for h in headers if h.split(b":", 1)[0].lower() not in named]
        if host is None:
            host = self.host if self.host is not None else pool_name.encode()
        parts = [method, b" ", self.url if target is None else target, b" HTTP/1.1\r\nHost: ", host, b"\r\n",
                 *headers, extra]
        if self.content_length is not None and not chunked:
            # As a plain number: llhttp takes leading zeros and up to 2^64-1, which a server's
            # parser might read otherwise.
            parts.append(b"Content-Length: %d\r\n" % int(self.content_length))
        elif chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if upgrade:
            parts.append(b"Connection: upgrade\r\nUpgrade: %s\r\n" % self.upgrade)
        if self.client_cert_headers:
            parts.append(self.client_cert_headers)
        ff = self.forwarded_for
        parts.append(self.forwarded(ff + b", ") if ff else self.forwarded_lines)
        return b"".join(parts)

    def forwarded(self, earlier_hops: bytes) -> bytes:
        """The head's last lines: who the client is, after the hops before laneway (each
        ending in a comma and space) when it came through proxies already."""
        client_ip = self.client_ip
        return b"X-Forwarded-For: %s%s\r\nX-Real-IP: %s\r\nX-Forwarded-Proto: %s\r\n\r\n" % (
            earlier_hops, client_ip, client_ip, self.proto)

    def edited_head(self, edits: RouteEdits, values: Values, method: bytes, pool_name: str, chunked: bool,
                    upgrade: bool, extra: bytes) -> bytes:
        """The request head with the route's path and header edits; the client's own target,
        Host and headers stay as they were, for the access log and the pool's hash key."""
        target, host, headers = edits.edit_request(self.url, self.host, self.headers, values)
        return self.request_head(method, pool_name, chunked, upgrade, extra, target, host, headers)

    # ------------------------------------------------------------------ exchanges

    def admit(self, guard: Guard[Pool | Split]) -> float:
        """The route's policies: a 413 or ``RateLimited`` is raised; else how long to hold the request
        (a rate limit without ``nodelay`` spaces a burst out to the rate, as NGINX does)."""
        limit = guard.max_body_size
        if limit is not None and self.content_length is not None and int(self.content_length) > limit:
            raise HttpError(413, f"request body larger than {limit} bytes, the most this route takes")
        limiter = guard.rate_limiter
        if limiter is None:
            return 0.0
        key: bytes | None = b""
        if guard.rate_key == BY_CLIENT:
            key = self.client_ip
        elif guard.rate_key == BY_HEADER:
            key = self.header_value(guard.rate_header)
            if key is None:
                return 0.0  # no key, not counted (NGINX's limit_req with an empty key)
        decision = limiter.check(key, self.clock())
        if not decision.allowed:
            raise RateLimited(decision.retry_after)
        return decision.delay

    def begin(self, exchange: Exchange) -> None:
        """Start the current exchange now, or when a rate limit lets it go on."""
        if exchange.local is not None:
            # Not written at once: this may run while a request is parsed, or for each of a
            # long run of pipelined requests (which must not recurse).
            self.loop.call_soon(self.answer_due, exchange)
            return
        if exchange.fill is not None and self.from_cache(exchange):
            return
        self.proceed(exchange)

    def proceed(self, exchange: Exchange) -> None:
        """Send the current exchange to a server now, or when a rate limit lets it go on."""
        wait = exchange.not_before - self.clock() if exchange.not_before else 0.0
        if wait <= 0:
            self.start(exchange)
            return

        def start_when_due() -> None:
            if not self.closed and self.current is exchange:
                self.start(exchange)

        self.loop.call_later(wait, start_when_due)

    def start(self, exchange: Exchange, server: Server | None = None) -> None:
        """Give the current exchange a server (``server``, or the pool's pick) and a
        connection to it."""
        pool = exchange.pool
        assert pool is not None  # laneway's own answers (no pool) never go to a server
        now = self.clock()
        stick = exchange.stick
        if stick is not None:  # session persistence: the remembered server, or one to remember
            server = stick.pick(pool, exchange.context or self.context_for(pool), now, server)
            exchange.response_extra = stick.response_extra
        elif server is None:
            server = pool.pick(exchange.context or self.context_for(pool), now)
        if server is None:
            detail = (f"every server of pool {pool.name!r} is at its limit" if pool.available
                      else f"no server of pool {pool.name!r} may take traffic")
            self.upstream_failed(exchange, 503, detail, count=False)
            return
        exchange.server = server
        exchange.served_by = server.key
        server.in_flight += 1
        server.requests_total += 1
        if pool.tracks_requests:
            pool.balancer.on_start(server, now)
        connection = server.connections.take(now)
        if isinstance(connection, UpstreamConnection):
            connection.attach(exchange)
            if not self.feeding:
                self.flush()
        else:
            self.loop.create_task(self.connect(exchange, server))

    def from_cache(self, exchange: Exchange) -> bool:
        """A cached route's GET or HEAD: True if it is answered from the store or waits for
        the same request on its way to a server; False: it goes to a server itself (and its
        response may fill the store). Sets ``X-Cache`` and counts the outcome."""
        fill = exchange.fill
        assert fill is not None
        store = fill.store
        if fill.mode != LOOKUP:
            if fill.mode != INVALIDATE:
                store.bypasses += 1  # the client asked for a fresh answer (no-cache, no-store)
                self.note_cache(exchange, "BYPASS", X_CACHE_BYPASS)
            return False
        if self.answer_from_store(exchange):
            return True
        if fill.lock_timeout > 0:
            first = store.claim(fill)
            if first is not None:
                FillWaiter(self, exchange, first, fill.lock_timeout)
                return True
        store.misses += 1
        self.note_cache(exchange, "MISS", X_CACHE_MISS)
        return False

    @staticmethod
    def note_cache(exchange: Exchange, status: str, header: bytes) -> None:
        """The cache's verdict on a request that goes to a server: for the access log, and as
        a header of the server's answer."""
        exchange.cache_status = status
        exchange.response_extra += header
        stick = exchange.stick
        if stick is not None:  # persistence sets response_extra anew from these when it picks
            stick.extra += header
            stick.response_extra += header

    def answer_from_store(self, exchange: Exchange) -> bool:
        """Answer the exchange from a fresh stored response, if there is one."""
        fill = exchange.fill
        assert fill is not None
        now = self.clock()
        entry = fill.store.lookup(fill.key, fill.request_headers, now)
        if entry is None:
            return False
        fill.store.hits += 1
        exchange.fill = None
        exchange.cache_status = "HIT"
        status = evaluate(entry.status, entry.fields, fill.conditions) if fill.conditions else entry.status
        exchange.status = status
        exchange.local = cached_response(entry, now, status, head=exchange.is_head, http11=exchange.http11,
                                         keep_alive=exchange.client_keep_alive, extra=exchange.response_extra,
                                         compress=exchange.compress, coding=exchange.coding,
                                         edit=exchange.response_edit)
        self.loop.call_soon(self.answer_due, exchange)
        return True

    def after_fill(self, exchange: Exchange) -> None:
        """The response this exchange waited for was stored, or was not, or the wait timed out."""
        if self.closed or self.current is not exchange or self.answer_from_store(exchange):
            return
        fill = exchange.fill
        assert fill is not None
        fill.store.misses += 1
        self.note_cache(exchange, "MISS", X_CACHE_MISS)
        self.proceed(exchange)

    def answer_due(self, exchange: Exchange) -> None:
        """Write laneway's own answer, once its request has been read (or is not awaited)."""
        answer = exchange.local
        if (self.closed or self.current is not exchange or answer is None or exchange.response_complete
                or not (exchange.request_complete or not exchange.client_keep_alive)):
            return
        self.transport.write(answer)
        exchange.bytes_out = len(answer)
        exchange.response_complete = True
        self.exchange_done(exchange)

    async def connect(self, exchange: Exchange, server: Server) -> None:
        pool = exchange.pool
        assert pool is not None  # laneway's own answers (no pool) never go to a server
        # By time.monotonic(): uvloop's clock counts whole milliseconds, and a connect on a
        # local network takes less.
        began = time.monotonic()
        timeout = min(pool.connect_timeout, exchange.deadline_at - self.clock())
        server.connecting += 1
        try:
            async with asyncio.timeout(timeout):
                if pool.tls is None:
                    _, connection = await self.loop.create_connection(
                        lambda: UpstreamConnection(server, self.listener.sweeper), server.host, server.port)
                else:
                    # The TLS handshake is part of connecting: a server whose certificate
                    # fails verification is a connect failure (502, or another server), and
                    # no byte of the request has gone to it.
                    _, connection = await self.loop.create_connection(
                        lambda: UpstreamConnection(server, self.listener.sweeper), server.host, server.port,
                        ssl=pool.tls, server_hostname=pool.tls_server_name or server.host,
                        ssl_handshake_timeout=timeout)
        except TimeoutError:
            detail = f"timed out connecting to server {server.key}"
            if not self.retry_elsewhere(exchange, detail, CONNECT_FAILURE):
                self.upstream_failed(exchange, 502, detail)
            return
        except OSError as error:
            detail = f"cannot connect to server {server.key}: {error.strerror or type(error).__name__}"
            if not self.retry_elsewhere(exchange, detail, CONNECT_FAILURE):
                self.upstream_failed(exchange, 502, detail)
            return
        finally:
            server.connecting -= 1
        took = time.monotonic() - began
        count_time(server.connect_counts, took)
        server.connect_sum += took
        if self.current is not exchange or self.closed:
            connection.close()
            return
        connection.attach(exchange)
        self.flush()

    def flush(self) -> None:
        """Send the current exchange's queued request bytes to its server."""
        exchange = self.current
        if exchange is None:
            return
        upstream = exchange.upstream
        if upstream is not None and exchange.pending:
            upstream.send_request(exchange)
        if self.paused & PAUSE_BUFFER and (self.parsing is None or self.parsing.pending_size <= HIGH_WATER):
            self.resume(PAUSE_BUFFER)

    def retry_fresh(self, exchange: Exchange) -> None:
        """A reused connection closed before answering: resend on a fresh connection.

        Safe because nothing but the request head reached the server (the server closed
        an idle connection just as the request was sent, RFC 9112 9.3.1).
        """
        if exchange.head_sent:  # else it is still first in ``pending``: never twice
            exchange.pending.insert(0, exchange.head)
            exchange.pending_size += len(exchange.head)
        exchange.head_sent = False
        exchange.upstream = None
        self.resume(PAUSE_UPSTREAM)  # set by the connection that closed, which cannot lift it
        server = exchange.server
        assert server is not None
        self.loop.create_task(self.connect(exchange, server))

    def retry_elsewhere(self, exchange: Exchange, detail: str, reason: int,
                        following: Server | None = None) -> bool:
        """Send the request to another server of the pool, if that is allowed and safe;
        True if it was.

        Allowed: the pool retries on ``reason``, has tries, time and retry budget left, and
        another server may take the request. Safe: nothing of the response reached the
        client, and either no connection was made (``CONNECT_FAILURE``) or the method is
        idempotent (RFC 9110 9.2.2) and the whole request can be sent again (no body byte
        was sent, or the body was kept). A POST a server may have acted on is never sent twice.

        ``following``: the server ``retry_target`` chose a moment ago, so that the pool's
        algorithm is not asked twice for one retry (a round robin would skip a server).
        """
        if following is None:
            following = self.retry_target(exchange, reason)
        elif not self.may_retry(exchange, reason):
            following = None
        if following is None:
            return False
        pool = exchange.pool
        assert pool is not None  # laneway's own answers (no pool) never go to a server
        server = exchange.server
        assert server is not None
        log.warning("%s; trying server %s", detail, following.key)
        self.settle(exchange, failed=True)
        exchange.tried.append(server)
        pool.retry_budget.spend()
        if exchange.body_sent:
            exchange.pending = [exchange.head, *exchange.kept]
            exchange.pending_size = sum(map(len, exchange.pending))
            exchange.body_sent = False
        elif exchange.head_sent:
            exchange.pending.insert(0, exchange.head)
            exchange.pending_size += len(exchange.head)
        exchange.head_sent = False
        exchange.upstream = None
        self.resume(PAUSE_UPSTREAM)  # set by the failed connection, which cannot lift it
        context = exchange.context or self.context_for(pool)
        exchange.context = PickContext(context.client_address, context.hash_key, exchange.tried)
        self.start(exchange, following)
        return True

    def retry_target(self, exchange: Exchange, reason: int) -> Server | None:
        """The server a retry of ``exchange`` for ``reason`` would go to, if one may happen."""
        if not self.may_retry(exchange, reason):
            return None
        pool = exchange.pool
        server = exchange.server
        assert pool is not None and server is not None  # may_retry says so
        context = exchange.context or self.context_for(pool)
        tried = [*exchange.tried, server]
        following = pool.pick(PickContext(context.client_address, context.hash_key, tried))
        return None if following is None or following in tried else following

    def may_retry(self, exchange: Exchange, reason: int) -> bool:
        """Whether a retry of ``exchange`` for ``reason`` is allowed and safe now (whichever
        server it would go to)."""
        pool = exchange.pool
        assert pool is not None  # laneway's own answers (no pool) never go to a server
        policy = pool.retry
        server = exchange.server
        if (server is None or exchange.response_started or self.closed or self.current is not exchange
                or len(exchange.tried) >= policy.retries):
            return False
        if reason == CONNECT_FAILURE:
            if not policy.on_connect_failure or exchange.body_sent:
                return False
        elif not exchange.idempotent or not exchange.replayable or not (
                policy.on_reset if reason == RESET else policy.on_timeout if reason == TIMEOUT
                else exchange.request_complete):
            return False
        return self.clock() < exchange.deadline_at and pool.retry_allowed()

    def exchange_done(self, exchange: Exchange) -> None:
        """The response has been written in full."""
        if exchange.fill is not None:
            exchange.fill.abandon()  # nothing if it was stored; else its waiters go on
        self.settle(exchange, failed=False)
        if self.access_log is not None:
            self.access_log.record(exchange, exchange.status, time.monotonic())
        self.current = None
        if self.closed:
            return
        if self.paused & PAUSE_UPSTREAM:
            self.resume(PAUSE_UPSTREAM)  # that server connection is gone: it cannot resume us
        if not exchange.request_complete:
            self.linger()  # the client may still be sending its body
        elif not exchange.client_keep_alive:
            self.close_when_written()
        elif self.queue:
            following = self.queue.popleft()
            self.current = following
            if not self.queue:
                self.resume(PAUSE_PIPELINE)
            self.begin(following)
        elif self.deferred_error is not None:  # after every whole request before the bad one
            self.fail(self.deferred_error)
        elif self.closing:
            self.close_when_written()
        else:
            if self.parsing is None:
                self.deadline = self.clock() + self.idle_timeout
                self.deadline_kind = IDLE

    def settle(self, exchange: Exchange, *, failed: bool) -> None:
        """Tell the server and the algorithm the exchange is over (exactly once)."""
        server = exchange.server
        if server is None:
            return
        exchange.server = None
        server.in_flight -= 1
        server.bytes_total += exchange.bytes_out
        server.responses[exchange.status // 100] += 1  # status is 0 or three digits
        pool = exchange.pool
        assert pool is not None  # laneway's own answers (no pool) never go to a server
        if not failed and exchange.status in pool.failure_statuses:
            failed = True  # a status the pool counts against the server (e.g. 503)
        if failed:
            server.failures_total += 1
        if pool.on_result is not None:
            pool.on_result(server, not failed)
        now = self.clock()
        latency = now - exchange.started_at
        # The latency histogram: one bisect over a small tuple, one increment (upstream/latency.py).
        server.latency_counts[bisect_left(LATENCY_BOUNDS, latency)] += 1
        server.latency_sum += latency
        if pool.tracks_requests:
            pool.balancer.on_end(server, now, latency, failed)

    def upstream_failed(self, exchange: Exchange, status: int, detail: str, *, count: bool = True) -> None:
        """No response came from the server: answer ``status`` unless the response began."""
        if exchange.fill is not None:
            exchange.fill.abandon()
        self.settle(exchange, failed=count)
        if exchange.upstream is not None:
            exchange.upstream.drop()
            exchange.upstream = None
        if self.closed or self.current is not exchange:
            return
        if exchange.response_started:
            self.transport.abort()
            if self.access_log is not None:
                self.access_log.record(exchange, exchange.status, time.monotonic())
            return
        exchange.status = status  # laneway's answer, for the access log
        pool = exchange.pool
        assert pool is not None
        log.warning("%s %s: %s", status, pool.name, detail)
        errors = pool.errors_total  # an error path only: a dict by status is fine here
        errors[status] = errors.get(status, 0) + 1
        # The connection stays usable only if the client has sent the whole request.
        # (Not after an upgrade request: the client's parser stopped there.)
        close = not (exchange.request_complete and exchange.client_keep_alive) or exchange.upgrade
        answer = error_response(status, detail, close=close)
        self.transport.write(answer)
        exchange.bytes_out += len(answer)
        exchange.response_complete = True
        exchange.client_keep_alive = not close
        self.exchange_done(exchange)

    def abandon(self, exchange: Exchange) -> None:
        """The client went away: drop the exchange and its server connection."""
        if exchange.fill is not None:
            exchange.fill.abandon()
        self.settle(exchange, failed=False)
        if self.access_log is not None and not exchange.response_complete:
            self.access_log.record(exchange, CLIENT_CLOSED, time.monotonic())
        if exchange.upstream is not None and not exchange.response_complete:
            exchange.upstream.drop()
            exchange.upstream = None

    def fail(self, error: HttpError) -> None:
        """Answer a request error and close, after the responses to the requests before it."""
        if self.current is not None and not self.current.request_complete:
            # The request being forwarded is broken mid-way: the server must not get the rest.
            current = self.current
            self.abandon(current)
            self.current = None
            if current.response_started:
                self.transport.abort()
                return
        elif self.current is not None:
            # Answer in order: the error follows the responses to the whole requests before
            # it. A queued request whose body the error cut short is dropped (it never began).
            broken = self.parsing
            if broken is not None and broken is not self.current:
                self.queue.remove(broken)
                self.parsing = None
            self.deferred_error = error
            self.pause(PAUSE_DONE)
            return
        self.deferred_error = None
        if error.status >= 500:
            log.warning("%s: %s", error.status, error.detail)
        if self.access_log is not None:
            self.access_log.record_refused(self.client_ip.decode(), error.status, error.detail)
        self.transport.write(error_response(error.status, error.detail, headers=error.headers))
        self.queue.clear()
        if error.status == 413:
            self.linger()  # a client refused mid-upload must still read why
            return
        self.close_when_written()

    def linger(self) -> None:
        """Close after an answer that came before the whole request: half-close now, drop
        what the client still sends, and close when it does (laneway.http.lingering)."""
        transport = self.transport
        if not transport.can_write_eof():  # TLS has no half-close
            self.close_when_written()
            return
        transport.write_eof()
        self.tunnel = Lingering(self, self.clock, IDLE)
        self.upgrading = None
        if self.paused:
            self.paused = 0
            transport.resume_reading()

    def start_upgrade(self, rest: bytes) -> None:
        """The request asked to switch protocols; bytes after it wait for the server's 101."""
        exchange = self.parsing if self.parsing is not None else self.current
        if exchange is None or not exchange.upgrade:
            self.fail(HttpError(400, "unexpected protocol upgrade"))
            return
        self.upgrading = exchange
        if rest:
            self.hold(rest)
        self.flush()

    def hold(self, data: bytes) -> None:
        """Keep bytes that follow an upgrade request until the server agrees to switch."""
        self.held.append(data)
        self.held_size += len(data)
        if self.held_size > HIGH_WATER:
            self.pause(PAUSE_BUFFER)

    def open_tunnel(self, upstream: UpstreamConnection) -> None:
        """The server switched protocols: from now on bytes pass through both ways, the
        client's held ones first."""
        self.tunnel = upstream
        self.upgrading = None
        self.current = None
        self.deadline = 0.0
        self.listener.sweeper.watched.discard(self)
        self.resume(PAUSE_DONE | PAUSE_PIPELINE | PAUSE_BUFFER)
        if self.held:  # after the resume: a server that cannot take them all pauses the client
            upstream.write(b"".join(self.held))
            self.held.clear()
            self.held_size = 0

    # ------------------------------------------------------------------ flow control and timers

    def pause(self, reason: int) -> None:
        if not self.paused and not self.closed:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not self.closed:
                self.transport.resume_reading()
                # The time laneway did not read is not the client's: a deadline on its
                # sending starts again (else it could pass before the first read after this).
                if self.deadline and self.deadline_kind == WAITING_BODY:
                    self.deadline = self.clock() + self.body_timeout
                elif self.deadline and self.deadline_kind == WAITING_HEAD:
                    self.deadline = self.clock() + self.header_timeout

    def on_deadline(self) -> None:
        if self.deadline_kind == SENDING:  # also once closed: the close waits for the buffer
            log.info("client %s stopped reading its response; closing", self.client_ip.decode())
            self.transport.abort()
            return
        if self.closed:
            return
        if self.paused & (PAUSE_UPSTREAM | PAUSE_BUFFER | PAUSE_PIPELINE):
            # laneway stopped reading, not the client: the server side has its own timer.
            self.deadline = self.clock() + self.body_timeout
            return
        if self.deadline_kind == IDLE:
            self.close_when_written()
            return
        what = "request head" if self.deadline_kind == WAITING_HEAD else "request body"
        self.fail(HttpError(408, f"timed out waiting for the {what}"))

    def begin_shutdown(self) -> None:
        """Finish the exchange under way, if any, then close."""
        self.closing = True
        if self.current is None and not self.in_head and not self.closed:
            self.close_when_written()

    def close_tunnel(self) -> None:
        """The server's side of the tunnel closed: close once the client has been sent what
        came before (watched again, so that a client that does not read it is cut off)."""
        if not self.closed:
            self.listener.sweeper.watched.add(self)
            self.close_when_written()

    def close_when_written(self) -> None:
        """Close once what is buffered for the client is written. uvloop's close waits for
        that however long it takes: a client that does not read it is cut off after the idle
        timeout (NGINX's send_timeout), or each such client would keep a socket and up to
        the buffer's high-water mark of memory."""
        transport = self.transport
        transport.close()
        self.closed = True
        if transport.get_write_buffer_size():
            self.deadline = self.clock() + self.idle_timeout
            self.deadline_kind = SENDING
