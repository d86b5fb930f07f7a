"""The servers behind ``laneway demo``: two fast, one slow, as in the chapter's round robin example.

Each is a minimal HTTP/1.1 origin server on 127.0.0.1 built on an asyncio Protocol. It answers
any request with a short text naming itself (``/health`` with ``ok``) after its delay, so that
a client sees which server the balancer chose and how the slow one holds requests up.

Small, but correct for what it accepts (RFC 9112):

- requests on a connection are answered one at a time, in order (pipelining included); a
  request's body, by Content-Length or chunked, is read and discarded before the answer;
- HTTP/1.1 keeps the connection open unless the client sends ``Connection: close``; HTTP/1.0
  only when it asks for ``keep-alive``; a connection idle for ``idle_timeout`` is closed;
- what it cannot frame is answered with 400 (or 431, 505) and ``Connection: close``;
- HEAD gets the headers GET would get and no body.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
from dataclasses import dataclass
from importlib import resources
from typing import cast

from laneway.config import Config, parse_config_text

log = logging.getLogger("laneway.demo")

# The chapter's example: two servers that take 10 ms, one that takes 100 ms.
DEMO_SERVERS = (("fast", 0.010), ("fast", 0.010), ("slow", 0.100))

MAX_HEAD = 16 * 1024  # request line and headers together
MAX_BUFFERED = 64 * 1024  # pipelined bytes held while a response is pending, before reading pauses

# RFC 9110 5.6.2: token = 1*tchar. All three are used with fullmatch ($ would allow a final \n).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_REASONS = {200: "OK", 400: "Bad Request", 431: "Request Header Fields Too Large",
            505: "HTTP Version Not Supported"}


class BadRequest(Exception):
    """The request cannot be answered on this connection; ``status`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes
    keep_alive: bool
    # Body framing (RFC 9112 6.3): a byte count, or chunked.
    content_length: int = 0
    chunked: bool = False
    started: float = 0.0


class DemoServer:
    """One demo server: ``number`` and ``kind`` name it, ``delay`` is how long it takes to answer."""

    def __init__(self, number: int, kind: str, delay: float, *, idle_timeout: float = 75.0) -> None:
        self.number = number
        self.kind = kind
        self.delay = delay
        self.idle_timeout = idle_timeout
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.requests = 0  # answered, for the summary when the demo stops
        self.connections: set[DemoConnection] = set()
        self._server: asyncio.Server | None = None
        self._all_closed = asyncio.Event()

    @property
    def name(self) -> str:
        return f"demo server {self.number} ({self.kind})"

    def body(self, target: bytes) -> bytes:
        if target == b"/health" or target.startswith(b"/health?"):
            return b"ok\n"
        return f"hello from {self.name}\n".encode()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: DemoConnection(self), host, port)
        bound = self._server.sockets[0].getsockname()
        self.address = (bound[0], bound[1])
        return self.address

    async def close(self, timeout: float = 1.0) -> None:
        """Stop listening and close every connection, waiting at most ``timeout`` for them to go."""
        if self._server is not None:
            self._server.close()
        self._all_closed.clear()
        for connection in list(self.connections):
            connection.close()
        if self.connections:
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except TimeoutError:
                for connection in list(self.connections):
                    connection.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def forget(self, connection: DemoConnection) -> None:
        self.connections.discard(connection)
        if not self.connections:
            self._all_closed.set()


class DemoConnection(asyncio.Protocol):
    """One client connection: reads requests, answers each after the server's delay."""

    def __init__(self, server: DemoServer) -> None:
        # Global state
        self.server = server
        self.loop = asyncio.get_running_loop()
        # Per-connection state
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.reading_paused = False
        self.writing_paused = False
        self.idle_timer: asyncio.TimerHandle | None = None
        # Per-request state: the request being read or answered, and the body bytes still to skip.
        self.request: Request | None = None
        self.body_left = 0
        self.in_chunk_data = False
        self.in_trailers = False
        self.body_done = False
        self.answer: asyncio.TimerHandle | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport; they have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in (self.idle_timer, self.answer):
            if handle is not None:
                handle.cancel()
        self.transport = None
        self.server.forget(self)

    def data_received(self, data: bytes) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        self.buffer += data
        try:
            self._process()
        except BadRequest as error:
            self._refuse(error)
            return
        if self.answer is None:
            self._arm_idle_timer()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.answer is None and self.request is None and self.buffer:
            self.data_received(b"")

    # Reading requests

    def _process(self) -> None:
        """Read as far as the buffer allows; stop when a request is waiting for its answer."""
        while self.transport is not None and self.answer is None and not self.writing_paused:
            if self.request is None:
                # RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request-line.
                while self.buffer.startswith(b"\r\n"):
                    del self.buffer[:2]
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buffer) > MAX_HEAD:
                        raise BadRequest(431, "the request head is too large")
                    return
                if end > MAX_HEAD:
                    raise BadRequest(431, "the request head is too large")
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                self.request = parse_head(head)
                self.request.started = self.loop.time()
                self.body_left = self.request.content_length
                self.in_chunk_data = self.in_trailers = False
                self.body_done = not self.request.chunked and not self.body_left
            if not self.body_done:
                self._skip_body()  # takes all the buffer holds of the body
                if not self.body_done:
                    return
            self.answer = self.loop.call_later(self.server.delay, self._respond)
        if self.answer is not None and len(self.buffer) > MAX_BUFFERED and not self.reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self.reading_paused = True

    def _skip_body(self) -> None:
        """Discard body bytes; sets ``body_done`` once the request's body has been read whole."""
        request = self.request
        assert request is not None
        if not request.chunked:
            taken = min(self.body_left, len(self.buffer))
            del self.buffer[:taken]
            self.body_left -= taken
            self.body_done = self.body_left == 0
            return
        # RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk is size 0,
        # then trailer fields, then an empty line.
        while not self.body_done:
            if self.in_chunk_data:
                taken = min(self.body_left, len(self.buffer))
                del self.buffer[:taken]
                self.body_left -= taken
                if self.body_left:
                    return
                if len(self.buffer) < 2:
                    return
                if self.buffer[:2] != b"\r\n":
                    raise BadRequest(400, "chunk data is not followed by CRLF")
                del self.buffer[:2]
                self.in_chunk_data = False
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise BadRequest(400, "a chunk size line is too long")
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if self.in_trailers:
                self.body_done = line == b""
                continue
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size_text) or len(size_text) > 16:
                raise BadRequest(400, f"invalid chunk size {size_text[:20]!r}")
            self.body_left = int(size_text, 16)
            if self.body_left == 0:
                self.in_trailers = True
            else:
                self.in_chunk_data = True

    # Answering

    def _respond(self) -> None:
        self.answer = None
        request = self.request
        self.request = None
        if self.transport is None or request is None:
            return
        body = self.server.body(request.target)
        self.server.requests += 1
        headers = [
            b"HTTP/1.1 200 OK",
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Length: " + str(len(body)).encode(),
            b"X-Demo-Server: " + str(self.server.number).encode(),
        ]
        headers.append(b"Connection: keep-alive" if request.keep_alive else b"Connection: close")
        payload = b"\r\n".join(headers) + b"\r\n\r\n"
        if request.method != b"HEAD":
            payload += body
        self.transport.write(payload)
        elapsed_ms = (self.loop.time() - request.started) * 1000
        log.info("%s answered %s %s in %.0f ms", self.server.name, request.method.decode("latin-1"),
                 request.target.decode("latin-1"), elapsed_ms)
        if not request.keep_alive:
            self.transport.close()
            return
        if self.reading_paused:
            self.transport.resume_reading()
            self.reading_paused = False
        if self.buffer:
            self.data_received(b"")
        else:
            self._arm_idle_timer()

    def _refuse(self, error: BadRequest) -> None:
        """Answer a request that cannot be read, then close: what follows it cannot be framed."""
        if self.transport is None:
            return
        body = f"{error}\n".encode()
        self.transport.write(
            f"HTTP/1.1 {error.status} {_REASONS.get(error.status, 'Error')}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode() + body)
        log.info("%s refused a request: %d %s", self.server.name, error.status, error)
        self.close()

    # Closing

    def _arm_idle_timer(self) -> None:
        if self.idle_timer is None and self.transport is not None:
            self.idle_timer = self.loop.call_later(self.server.idle_timeout, self.close)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.buffer.clear()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def parse_head(head: bytes) -> Request:
    """The request line and headers (without the final empty line) -> a ``Request``, or ``BadRequest``."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise BadRequest(400, "the request line is not 'METHOD target HTTP/1.1'")
    method, target, version_text = parts
    version = _VERSION.fullmatch(version_text)
    if version is None:
        raise BadRequest(400, f"invalid HTTP version {version_text[:20]!r}")
    if version.groups() not in ((b"1", b"1"), (b"1", b"0")):
        raise BadRequest(505, f"only HTTP/1.0 and HTTP/1.1 are served, got {version_text.decode()}")
    http11 = version.group(2) == b"1"
    hosts = 0
    connection: set[bytes] = set()
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        # RFC 9112 5.1: no whitespace between name and colon; 5.2: obs-fold is rejected.
        if not colon or not _TOKEN.fullmatch(name):
            raise BadRequest(400, f"invalid header line {line[:40]!r}")
        value = value.strip(b" \t")
        if any(c in value for c in b"\r\n\x00"):
            raise BadRequest(400, f"invalid character in header {name.decode()}")
        key = name.lower()
        if key == b"host":
            hosts += 1
        elif key == b"connection":
            connection.update(token.strip(b" \t").lower() for token in value.split(b","))
        elif key == b"content-length":
            lengths.update(item.strip(b" \t") for item in value.split(b","))
        elif key == b"transfer-encoding":
            codings.extend(token.strip(b" \t").lower() for token in value.split(b","))
    # RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request without exactly one Host.
    if http11 and hosts != 1:
        raise BadRequest(400, "an HTTP/1.1 request needs exactly one Host header")
    # RFC 9112 9.3: HTTP/1.1 persists unless "close" is sent; HTTP/1.0 only with "keep-alive".
    keep_alive = b"close" not in connection if http11 else b"keep-alive" in connection
    request = Request(method, target, keep_alive)
    if codings:
        # RFC 9112 6.1: Transfer-Encoding and Content-Length together may be smuggling; only a final
        # chunked can frame a request body, and HTTP/1.0 has no transfer codings at all.
        if lengths or not http11 or codings != [b"chunked"]:
            raise BadRequest(400, "only 'Transfer-Encoding: chunked' alone frames a request body")
        request.chunked = True
    elif lengths:
        # RFC 9112 6.3: differing Content-Length values are unrecoverable.
        if len(lengths) != 1 or not next(iter(lengths)).isdigit() or len(next(iter(lengths))) > 18:
            raise BadRequest(400, "invalid Content-Length")
        request.content_length = int(next(iter(lengths)))
    return request


async def start_demo_servers(host: str = "127.0.0.1") -> list[DemoServer]:
    """Start the chapter's fast, fast and slow servers on free ports of ``host``."""
    servers = [DemoServer(number, kind, delay) for number, (kind, delay) in enumerate(DEMO_SERVERS, 1)]
    try:
        for server in servers:
            await server.start(host, 0)
    except BaseException:
        await asyncio.gather(*(server.close() for server in servers))
        raise
    return servers


def demo_config(bind: tuple[str, int], servers: list[DemoServer]) -> Config:
    """The balancer ``laneway demo`` runs, from the embedded ``demo.yaml`` with addresses filled in."""
    template = resources.files("laneway.runtime").joinpath("demo.yaml").read_text(encoding="utf-8")
    values = {"bind": f"{bind[0]}:{bind[1]}"}
    values.update({f"server{server.number}": f"{server.address[0]}:{server.address[1]}"
                   for server in servers})
    return parse_config_text(string.Template(template).substitute(values), "the demo's embedded config")
