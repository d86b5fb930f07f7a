"""The server side of the layer 7 proxy: one ``UpstreamConnection`` per connection to a server.

It writes the request an exchange queued, parses the response strictly (llhttp) and writes
it to the client with laneway's own framing: the head is rebuilt without hop-by-hop headers;
a body with a Content-Length passes through as it is; a chunked body, or one that ends when
the server closes, is re-chunked for an HTTP/1.1 client (so the client connection can be
kept) and sent until close to an HTTP/1.0 one. Trailers are dropped (RFC 9112 7.1.2).

When the response ends the connection goes back to its server's keep-alive pool if both
sides of the exchange ended cleanly and the server allows it; otherwise it is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

import httptools

from laneway.http.compression import Encoder, compressor, encoded_fields, worth_compressing
from laneway.http.exchange import RESET, STATUS, TIMEOUT
from laneway.http.messages import status_line
from laneway.http.response_head import read_response_head

if TYPE_CHECKING:
    from laneway.http.client import ClientConnection
    from laneway.http.deadlines import DeadlineSweeper
    from laneway.http.exchange import Exchange
    from laneway.policies.cache import Fill
    from laneway.upstream import Server

log = logging.getLogger("laneway.http")

# A server's response head may be at most this large (HAProxy's tune.bufsize is 16 KiB).
MAX_RESPONSE_HEAD: Final = 64 * 1024

# How the response body is written to the client.
NO_BODY: Final = 0
AS_IS: Final = 1
RECHUNK: Final = 2
UNTIL_CLOSE: Final = 3


class NoCallbacks:
    """What a parser of a closed connection calls: nothing (it is never fed)."""


# Put in place of a closed connection's parser, to break the cycle through its callbacks.
CLOSED_RESPONSE_PARSER = httptools.HttpResponseParser(NoCallbacks())


class RetryStatus(Exception):
    """Raised in a parser callback to stop parsing a response that will be retried."""


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, server: Server, sweeper: DeadlineSweeper) -> None:
        # Global state
        self.server = server
        self.sweeper = sweeper
        self.clock = sweeper.loop.time  # bound once: a method looked up per call costs more
        self.response_timeout = server.pool.response_timeout if server.pool is not None else 60.0

        # Per-connection state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.open = False
        self.reused = False
        self.idle_since = 0.0
        self.deadline = 0.0
        self.reading_paused = False
        # Bytes still buffered towards the peer laneway waits for, when its deadline was last
        # armed: if fewer are left when it passes, the peer is slow, not stuck, and it is
        # armed again (NGINX's proxy_send_timeout counts from the last progress too).
        self.waiting_on = -1
        self.tunnel: asyncio.Transport | None = None  # the client's, once protocols switched
        self.tunnel_client: ClientConnection | None = None  # and its connection

        # Per-exchange state
        self.exchange: Exchange | None = None
        self.client_transport: asyncio.Transport = None  # type: ignore[assignment]
        self.out: list[bytes] = []
        self.received = False
        self.in_head = False
        self.raw_head = b""
        self.interim = False
        self.status = 0
        self.head_pending = False
        self.server_keep_alive = False
        self.framing = NO_BODY
        self.until_eof = False
        self.message_done = False
        self.head_only = False
        self.encoder: Encoder | None = None  # compressing this response (laneway.http.compression)
        self.retry_to: Server | None = None  # where a response with a retried status sends the request
        # The cache fill the server's body is copied into, while the response may still be stored.
        self.filling: Fill | None = None

    # ------------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=256 * 1024)
        self.open = True
        self.sweeper.watched.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.ended()
        finally:
            # The parser holds this connection's bound callbacks: a reference cycle only the
            # garbage collector would free (see ClientConnection.connection_lost).
            self.parser = CLOSED_RESPONSE_PARSER

    def ended(self) -> None:
        """The connection closed: finish or fail the exchange it carried."""
        self.open = False
        self.sweeper.watched.discard(self)
        if self.tunnel_client is not None:
            self.tunnel_client.close_tunnel()
            return
        exchange = self.exchange
        if exchange is None:
            self.server.connections.forget(self)
            return
        client = exchange.client
        if self.framing in (RECHUNK, UNTIL_CLOSE) and self.until_eof and not self.message_done \
                and exchange.response_started:
            # The server ended a close-delimited body (RFC 9112 6.3, rule 8). It is not
            # cached: a close cannot tell a whole body from one cut short.
            self.message_done = True
            self.drop_fill()
            self.end_compression()
            if self.framing == RECHUNK:
                self.out.append(b"0\r\n\r\n")
            self.client_transport.write(b"".join(self.out))
            self.out.clear()
            self.until_eof = False  # not reusable; finish() closes
            self.finish()
            return
        self.exchange = None
        exchange.upstream = None
        if exchange.response_started:
            client.upstream_failed(exchange, 502, "server closed the connection mid-response")
        elif self.reused and not self.received and not exchange.body_sent:
            client.retry_fresh(exchange)
        else:
            detail = f"server {self.server.key} closed the connection without answering"
            if not client.retry_elsewhere(exchange, detail, RESET):
                client.upstream_failed(exchange, 502, detail)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.deadline = self.clock() + self.response_timeout  # an idle tunnel is closed
            self.tunnel.write(data)
            return
        exchange = self.exchange
        if exchange is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        self.received = True
        if self.in_head:
            self.raw_head = self.raw_head + data if self.raw_head else data
            if len(self.raw_head) > MAX_RESPONSE_HEAD and self.raw_head.find(b"\r\n\r\n") < 0:
                self.bad_response(exchange, f"response head larger than {MAX_RESPONSE_HEAD} bytes")
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.switch_protocols(exchange, data[upgrade.args[0]:])
            return
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, RetryStatus):
                self.retry_status(exchange)
                return
            if not self.message_done:
                self.bad_response(exchange, str(error.__context__ or error))
                return
            # The response was whole; what followed it is not an answer to anything
            # (response splitting): pass on the response, never reuse the connection.
            log.warning("server %s sent bytes after its response; closing", self.server.key)
            self.server_keep_alive = False
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            self.client_transport.write(data)
            exchange.bytes_out += len(data)
            out.clear()
            if self.head_pending:
                self.head_pending = False
                exchange.response_started = True
        if self.message_done:
            self.finish()
        elif self.deadline:
            # The response timeout runs between reads, as NGINX's proxy_read_timeout.
            self.deadline = self.clock() + self.response_timeout

    def eof_received(self) -> bool | None:
        return False

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.pause_reading()  # the client sends faster than the server reads
            return
        exchange = self.exchange
        if exchange is not None:
            exchange.client.pause(4)  # PAUSE_UPSTREAM
            # A server that stops taking the request is timed out like one that does not
            # answer (NGINX's proxy_send_timeout), or client and server would wait for ever.
            if not self.deadline:
                self.deadline = self.clock() + self.response_timeout
                self.waiting_on = self.transport.get_write_buffer_size()

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.resume_reading()
            return
        exchange = self.exchange
        if exchange is not None:
            exchange.client.resume(4)
            if not exchange.request_complete:
                self.deadline = 0.0  # it took more: the response timeout starts at the end

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        if self.message_done:
            # Bytes after the response begin another: an answer to nothing, and whatever
            # comes next would be read as part of it. The connection is not used again.
            self.server_keep_alive = False

    def on_headers_complete(self) -> None:
        if self.message_done:
            raise ValueError("a second response followed the first")
        exchange = self.exchange
        assert exchange is not None
        # The head ends at the first CRLF CRLF of the bytes collected since it began.
        raw = self.raw_head
        end = raw.find(b"\r\n\r\n") + 4
        fields, content_length, chunked, upgrade = read_response_head(raw[:end])
        status = self.parser.get_status_code()
        self.status = status
        if status < 100 or status > 599:
            # RFC 9110 15: a status is three digits from 100 to 599; llhttp takes 000 to 999.
            raise ValueError(f"status {status:03d} is not an HTTP status")
        if status < 200 and status != 101:
            # 100 Continue, 103 Early Hints: relayed to HTTP/1.1 clients, then the real answer,
            # whose head begins in what followed (kept only here: after a final head it is
            # body, and copying it would cost a copy of every first read of a body).
            self.raw_head = raw[end:]
            self.interim = True
            if exchange.http11:
                self.out.append(b"%s%s\r\n\r\n" % (status_line(status)[:-2], fields))
            return
        pool = exchange.pool
        assert pool is not None  # an exchange on a server connection has a pool
        if status in pool.retry.statuses:
            self.retry_to = exchange.client.retry_target(exchange, STATUS)
            if self.retry_to is not None:
                raise RetryStatus  # stops the parser; data_received sends the request elsewhere
        self.in_head = False
        self.raw_head = b""
        self.head_pending = True
        exchange.status = status
        if exchange.log_facts is not None:
            exchange.head_at = time.monotonic()
        fill = exchange.fill
        if fill is not None:
            # The server's own fields and body go into the cache, before any compression.
            # A HEAD's answer has no body to store; ``until_eof`` bodies are dropped at the close.
            if exchange.is_head or not fill.head(status, fields, time.time()):
                fill.abandon()
            else:
                self.filling = fill
        # Read now: llhttp forgets it once the message is complete.
        self.server_keep_alive = self.parser.should_keep_alive()
        client = exchange.client
        # An answer that comes before the whole request ends the connection (with a lingering
        # close, laneway.http.lingering), and says so (RFC 9112 9.6).
        keep_client = exchange.client_keep_alive and exchange.request_complete and not (
            client.closing and not client.queue)
        if exchange.response_edit is not None:
            fields = exchange.response_edit.apply(fields, exchange.served_by)
        self.encoder = None
        if exchange.compress is not None and status == 200 and not exchange.is_head \
                and worth_compressing(fields, content_length, exchange.compress):
            fields = encoded_fields(fields, exchange.coding)
            if exchange.coding:
                self.encoder = compressor(exchange.compress, exchange.coding)
                self.until_eof = content_length is None and not chunked
                content_length = None  # the compressed length is not known before the end
                chunked = True
        parts = [status_line(status)[:-2], fields]
        if self.encoder is None:
            self.until_eof = False
        if status == 101:
            if not exchange.upgrade or upgrade is None:
                raise ValueError("101 Switching Protocols to a request that did not ask to upgrade")
            parts.append(b"\r\nConnection: upgrade\r\nUpgrade: %s" % upgrade)
            self.framing = NO_BODY
        elif exchange.is_head or status == 204 or status == 304:
            self.framing = NO_BODY
            if content_length is not None and status != 204:
                parts.append(b"\r\nContent-Length: %s" % content_length)
            self.head_only = exchange.is_head
        elif content_length is not None:
            self.framing = AS_IS
            parts.append(b"\r\nContent-Length: %s" % content_length)
        else:
            if self.encoder is None:
                self.until_eof = not chunked
            if exchange.http11:
                self.framing = RECHUNK
                parts.append(b"\r\nTransfer-Encoding: chunked")
            else:
                self.framing = UNTIL_CLOSE
                keep_client = False
        if exchange.upgrade and status != 101:
            keep_client = False  # the client's parser stopped at the upgrade request
            self.server_keep_alive = False  # a server that was asked to switch: not reused
        if not keep_client:
            parts.append(b"\r\nConnection: close")
            exchange.client_keep_alive = False
        elif not exchange.http11:
            parts.append(b"\r\nConnection: keep-alive")
        if exchange.response_extra:
            parts.append(exchange.response_extra)
        parts.append(b"\r\n\r\n")
        self.out.append(b"".join(parts))
        if self.head_only:
            self.message_done = True

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            self.server_keep_alive = False  # a body after a HEAD answer: do not trust the rest
            return
        if self.filling is not None and not self.filling.body(body):
            self.filling = None  # larger than the store's max_entry_size
        if self.encoder is not None:
            body = self.encoder.compress(body)
            if not body:
                return  # the compressor holds it until it has enough to write
        if self.framing == RECHUNK:
            self.out.append(b"%x\r\n%s\r\n" % (len(body), body))
        elif body:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.head_only:
            return
        self.end_compression()
        if self.framing == RECHUNK:
            self.out.append(b"0\r\n\r\n")
        self.message_done = True
        if self.filling is not None:
            self.filling.complete(self.clock())
            self.filling = None

    def drop_fill(self) -> None:
        if self.filling is not None:
            self.filling.abandon()
            self.filling = None

    def end_compression(self) -> None:
        """Write what the compressor still holds, and its end (the gzip trailer)."""
        if self.encoder is not None:
            tail = self.encoder.flush()
            self.encoder = None
            if self.framing == RECHUNK:
                self.out.append(b"%x\r\n%s\r\n" % (len(tail), tail))
            else:
                self.out.append(tail)

    # ------------------------------------------------------------------ exchanges

    def attach(self, exchange: Exchange) -> None:
        self.exchange = exchange
        exchange.upstream = self
        self.client_transport = exchange.client.transport
        self.received = False
        self.in_head = True
        self.raw_head = b""
        self.message_done = False
        self.head_only = False
        self.interim = False
        self.framing = NO_BODY
        self.encoder = None
        self.filling = None
        if exchange.client.write_blocked:
            self.pause_reading()

    def send_request(self, exchange: Exchange) -> None:
        pending = exchange.pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        if exchange.head_sent:
            exchange.body_sent = True
        else:
            exchange.head_sent = True
            exchange.body_sent = len(data) > len(exchange.head)
        pending.clear()
        exchange.pending_size = 0
        self.transport.write(data)
        if exchange.request_complete:
            deadline = self.clock() + self.response_timeout
            self.deadline = deadline if deadline < exchange.deadline_at else exchange.deadline_at

    def finish(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.exchange = None
        exchange.upstream = None
        exchange.response_complete = True
        self.deadline = 0.0
        if self.reading_paused:
            self.resume_reading()
        reusable = self.open and exchange.request_complete and not self.until_eof and self.server_keep_alive
        if self.head_only:
            # llhttp cannot be told a response answers HEAD: start afresh for the next one.
            self.parser = httptools.HttpResponseParser(self)
            self.head_only = False
        if reusable:
            self.reused = True
            self.server.connections.give_back(self, self.clock())
        else:
            self.close()
        exchange.client.exchange_done(exchange)

    def bad_response(self, exchange: Exchange, detail: str) -> None:
        self.exchange = None
        exchange.upstream = None
        self.out.clear()
        self.head_pending = False
        self.close()
        log.warning("malformed response from server %s: %s", self.server.key, detail)
        exchange.client.upstream_failed(exchange, 502, f"malformed response from server {self.server.key}")

    def retry_status(self, exchange: Exchange) -> None:
        """The server answered with a status the pool retries on: the answer is dropped (and
        the connection with it, since its body was not read) and the request goes elsewhere."""
        self.exchange = None
        exchange.upstream = None
        self.out.clear()
        self.close()
        exchange.status = self.status
        detail = f"server {self.server.key} answered {self.status}"
        following, self.retry_to = self.retry_to, None
        if not exchange.client.retry_elsewhere(exchange, detail, STATUS, following):
            # Still checked at the head; only a change in between (e.g. the client left) lands here.
            exchange.client.upstream_failed(exchange, 502, detail)

    def switch_protocols(self, exchange: Exchange, rest: bytes) -> None:
        if self.status != 101 or not exchange.upgrade:
            self.bad_response(exchange, "unexpected protocol switch")
            return
        out = self.out
        if rest:
            out.append(rest)
        self.client_transport.write(b"".join(out))
        out.clear()
        self.exchange = None
        exchange.upstream = None
        # A tunnel with nothing passing either way for the response timeout is closed (as
        # NGINX's proxy_read_timeout closes an idle WebSocket).
        self.deadline = self.clock() + self.response_timeout
        exchange.response_complete = True
        client = exchange.client
        client.settle(exchange, failed=False)
        if client.access_log is not None:
            client.access_log.record(exchange, 101, time.monotonic())
        self.tunnel = self.client_transport
        self.tunnel_client = client
        if exchange.pending:  # the rest of the request, before anything of the new protocol
            self.transport.write(b"".join(exchange.pending))
            exchange.pending.clear()
        client.open_tunnel(self)

    # ------------------------------------------------------------------ flow control, timers

    def pause_reading(self) -> None:
        if not self.reading_paused and self.open:
            self.reading_paused = True
            self.transport.pause_reading()
            if self.tunnel is not None:
                self.waiting_on = self.tunnel.get_write_buffer_size()

    def resume_reading(self) -> None:
        if self.reading_paused and self.open:
            self.reading_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        """Bytes from the client, once the protocols switched."""
        self.deadline = self.clock() + self.response_timeout
        self.transport.write(data)

    def progressed(self, transport: asyncio.Transport) -> bool:
        """Whether ``transport`` wrote some of its buffer since the deadline was armed; if
        so the deadline is armed again."""
        left = transport.get_write_buffer_size()
        if 0 <= left < self.waiting_on:
            self.waiting_on = left
            self.deadline = self.clock() + self.response_timeout
            return True
        return False

    def on_deadline(self) -> None:
        exchange = self.exchange
        if exchange is None:
            tunnel = self.tunnel
            if tunnel is not None:
                if self.reading_paused and self.progressed(tunnel):
                    return  # a client slow to read, but reading
                log.info("tunnel through server %s idle for %gs; closing", self.server.key,
                         self.response_timeout)
                self.close()  # and the client's side after it (``ended``)
            return
        if self.reading_paused:
            # laneway stopped reading because the client is slow: not the server's fault.
            self.deadline = self.clock() + self.response_timeout
            return
        if not exchange.request_complete and self.progressed(self.transport):
            return  # a server slow to take the body, but taking it
        self.exchange = None
        exchange.upstream = None
        self.close()
        client = exchange.client
        if self.clock() >= exchange.deadline_at and not exchange.response_started:
            total = exchange.pool.retry.total_timeout if exchange.pool is not None else 0.0
            client.upstream_failed(exchange, 504, f"no answer within the pool's total timeout ({total:g}s)")
            return
        detail = (f"server {self.server.key} did not answer within {self.response_timeout:g}s"
                  if exchange.request_complete
                  else f"server {self.server.key} took none of the request for {self.response_timeout:g}s")
        if exchange.response_started or not client.retry_elsewhere(exchange, detail, TIMEOUT):
            client.upstream_failed(exchange, 504, detail)

    def drop(self) -> None:
        """Close for an exchange the client side has given up on: it is neither finished
        nor retried when the close comes back (``ended``)."""
        self.exchange = None
        self.close()

    def is_open(self) -> bool:
        return self.open

    def close(self) -> None:
        if self.open:
            self.open = False
            if self.transport.get_write_buffer_size():
                # Bytes no longer wanted, for a server that may read no more: uvloop's close
                # would wait for them for ever, and ``ended`` would never come.
                self.transport.abort()
            else:
                self.transport.close()
