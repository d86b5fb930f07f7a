#!/usr/bin/env python3
"""The least a reverse proxy on uvloop and httptools can do: a reference, not a product.

Round robin over the backends, keep-alive to them, the request head rebuilt without its
Connection header, the response passed through as it comes. No limits, no timeouts, no
forwarding headers, no strictness beyond llhttp's, no retries, no logs or metrics. The gap
between it and laneway is what laneway's features cost per request; the gap between it and
bench/floor.py is what proxying costs in Python. A candidate of bench/run:

    bench/run --scenarios small,close --candidates nginx,laneway,minimal-proxy \\
        --project "minimal-proxy=bench/.venv/bin/python bench/minimal_proxy.py --port {port} \\
        --backends {backends}"
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

import httptools
import uvloop
from floor import arguments, serve  # bench/floor.py, beside this file


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a backend; carries one response at a time. The response
    head is rebuilt with the client's own Connection; bodies must come with a Content-Length
    (as the benchmark's backends send them)."""

    def __init__(self, idle: deque[Upstream]) -> None:
        self.idle = idle
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.reason = b""
        self.head: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.head = []

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in (b"connection", b"keep-alive"):
            self.head.append(b"%s: %s\r\n" % (name, value))

    def on_headers_complete(self) -> None:
        client = self.client
        if client is not None and not client.closed:
            connection = b"keep-alive" if client.keep_alive else b"close"
            client.write(b"HTTP/1.1 %d %s\r\n%sConnection: %s\r\n\r\n" % (
                self.parser.get_status_code(), self.reason, b"".join(self.head), connection))

    def on_body(self, body: bytes) -> None:
        client = self.client
        if client is not None and not client.closed:
            client.write(body)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        self.idle.append(self)
        if client is not None:
            client.done()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.idle:
            self.idle.remove(self)
        if self.client is not None:
            self.client.close()


class Client(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.head: list[bytes] = []
        self.keep_alive = True
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True  # an answer under way is read to its end and dropped

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.head = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() != b"connection":
            self.head.append(b"%s: %s\r\n" % (name, value))

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        request = b"%s %s HTTP/1.1\r\n%s\r\n" % (self.parser.get_method(), self.url, b"".join(self.head))
        self.proxy.send(self, request)

    def done(self) -> None:
        if not self.keep_alive:
            self.close()


class Proxy:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = [(address, deque[Upstream]()) for address in backends]
        self.turn = itertools.cycle(range(len(backends)))
        self.connecting: set[asyncio.Task[None]] = set()  # referenced until done, or they may vanish

    def send(self, client: Client, request: bytes) -> None:
        address, idle = self.backends[next(self.turn)]
        if idle:
            upstream = idle.pop()
            upstream.client = client
            assert upstream.transport is not None
            upstream.transport.write(request)
        else:
            task = asyncio.ensure_future(self.connect(client, request, address, idle))
            self.connecting.add(task)
            task.add_done_callback(self.connecting.discard)

    async def connect(self, client: Client, request: bytes, address: tuple[str, int],
                      idle: deque[Upstream]) -> None:
        loop = asyncio.get_running_loop()
        transport, upstream = await loop.create_connection(lambda: Upstream(idle), *address)
        upstream.client = client
        transport.write(request)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--backends", required=True, help="host:port,host:port,...")
    args = parser.parse_args()
    proxy = Proxy([(host, int(port))
                   for host, port in (item.rsplit(":", 1) for item in args.backends.split(","))])
    uvloop.run(serve(lambda: Client(proxy), args.port))


if __name__ == "__main__":
    main()
