"""A real HTTP/1.1 server for the proxy to talk to, recording everything it receives.

Each accepted connection gets a ``ConnectionRecord`` (raw bytes, parsed requests) in
``Backend.connections``; responses are chosen by the request path (``tests.support.behaviours``)
unless ``override`` names the target to behave as for every request. Requests on one
connection are answered one at a time, in order, and nothing more is read from the
connection while a response is being written, so back-pressure reaches the sender.

A request with ``Upgrade`` is answered ``101 Switching Protocols`` and the connection then
echoes every byte it receives (``greeting`` in the query is sent first, unprompted).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import httptools

from tests.support.behaviours import Output, behaviour_for
from tests.support.records import ConnectionRecord, RequestRecord

READ_SIZE = 64 * 1024


class RequestParser:
    """httptools callbacks building ``RequestRecord``s; ``take_events()`` after each feed."""

    def __init__(self, connection: ConnectionRecord) -> None:
        self.connection = connection
        self.parser = httptools.HttpRequestParser(self)
        self.current = RequestRecord()
        self.events: list[tuple[str, RequestRecord]] = []

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def take_events(self) -> list[tuple[str, RequestRecord]]:
        events, self.events = self.events, []
        return events

    # Parser callbacks

    def on_message_begin(self) -> None:
        self.current = RequestRecord()
        self.connection.requests.append(self.current)

    def on_url(self, url: bytes) -> None:
        self.current.target += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        request = self.current
        request.method = self.parser.get_method().decode("latin-1")
        request.version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        request.upgrade = self.parser.should_upgrade()
        self.events.append(("head", request))

    def on_body(self, body: bytes) -> None:
        self.current.add_body(body)

    def on_message_complete(self) -> None:
        self.current.complete = True
        self.events.append(("complete", self.current))


class Backend:
    def __init__(self, name: str = "backend") -> None:
        self.name = name
        self.connections: list[ConnectionRecord] = []
        # Settings a test may change.
        self.override: str | None = None  # answer every request as if it were for this target
        self.close_reused = False  # hang up, unanswered, on a second request on a connection
        # Answer upgrade requests as any other and read what follows them as more requests,
        # as a server that does not switch protocols does.
        self.refuse_upgrade = False
        self.ssl: ssl.SSLContext | None = None  # serve HTTPS with this context
        # State a test may read.
        self.body_bytes_sent = 0
        self.holding = False  # a ``hold=1`` request waits for ``release()``
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._busy: set[int] = set()

    async def start(self, port: int = 0) -> Backend:
        """Listen on ``port`` (a free one when 0); after ``stop()``, the same port restarts it."""
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, ssl=self.ssl)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "start() the backend first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def requests(self) -> list[RequestRecord]:
        return [request for connection in list(self.connections) for request in connection.requests]

    @property
    def raw_size(self) -> int:
        return sum(connection.raw_size for connection in list(self.connections))

    def release(self) -> None:
        """Let requests held by ``hold=1`` read their bodies (callable from any thread)."""
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def close_idle(self) -> int:
        """Close every connection with no request in progress (call on the loop thread)."""
        closed = 0
        for key, writer in list(self._writers.items()):
            if key not in self._busy:
                writer.close()
                closed += 1
        return closed

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        record = ConnectionRecord(peer=(peer[0], peer[1]))
        self.connections.append(record)
        key = id(record)
        self._writers[key] = writer
        try:
            await self._serve(record, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            record.closed = True
            self._writers.pop(key, None)
            self._busy.discard(key)
            writer.close()

    async def _serve(self, record: ConnectionRecord, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        parser = RequestParser(record)
        key = id(record)
        after_refused_upgrade = b""
        while True:
            data, after_refused_upgrade = after_refused_upgrade, b""
            if not data:
                data = await reader.read(READ_SIZE)
                if not data:
                    return
                record.add_raw(data)
            rest: bytes | None = None
            try:
                parser.feed(data)
            except httptools.HttpParserUpgrade as upgrade:
                rest = data[upgrade.args[0]:]
            except httptools.HttpParserError as error:
                record.parse_error = f"{type(error).__name__}: {error}"
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            for kind, request in parser.take_events():
                if kind == "head":
                    self._busy.add(key)
                    if self.close_reused and len(record.requests) > 1:
                        return
                    if not await self._on_head(request, writer):
                        return
                elif rest is None or not request.upgrade or self.refuse_upgrade:
                    if not await self._respond(request, writer):
                        return
                    self._busy.discard(key)
            if rest is not None:
                if not self.refuse_upgrade:
                    await self._tunnel(record, parser.current, rest, reader, writer)
                    return
                parser = RequestParser(record)  # llhttp stops at an upgrade: a new one reads on
                after_refused_upgrade = rest

    async def _on_head(self, request: RequestRecord, writer: asyncio.StreamWriter) -> bool:
        if request.query.get("answer") == "early":
            # Refused on its head, before its body is read; the connection is not kept.
            writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                         b"too large")
            return False
        if (request.header("expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if request.query.get("hold") == "1":
            assert self._release is not None
            self.holding = True
            await self._release.wait()
            self.holding = False
        return True

    async def _respond(self, request: RequestRecord, writer: asyncio.StreamWriter) -> bool:
        target = self.override or request.target
        output = Output(writer, request, self, target)
        keep = await behaviour_for(output.path)(output)
        return keep and request.keep_alive and not writer.is_closing()

    async def _tunnel(self, record: ConnectionRecord, request: RequestRecord, rest: bytes,
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = request.header("upgrade") or "echo"
        writer.write(f"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n"
                     f"X-Backend: {self.name}\r\n\r\n".encode("latin-1"))
        greeting = request.query.get("greeting")
        if greeting:
            writer.write(greeting.encode())
        data = rest
        while True:
            if data:
                writer.write(data)
                await writer.drain()
            data = await reader.read(READ_SIZE)
            if not data:
                return
            record.add_raw(data)


async def start_backends(count: int, *, prefix: str = "backend", **settings: Any) -> list[Backend]:
    backends = [Backend(f"{prefix}{index}") for index in range(count)]
    for backend in backends:
        for name, value in settings.items():
            setattr(backend, name, value)
        await backend.start()
    return backends


async def stop_all(backends: list[Backend]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.gather(*(backend.stop() for backend in backends))
