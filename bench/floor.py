#!/usr/bin/env python3
"""The floor under laneway: an HTTP server on uvloop and httptools that proxies nothing.

It parses each request with httptools, as laneway does, and answers it itself from memory:
`GET /` with `ok`, `/16k` and `/1m` with that many bytes, keep-alive or `Connection: close`
as the client asks. What it costs per request is what any Python proxy built on uvloop and
httptools pays before it does any proxying: accepting, the transport, the parser's callbacks,
the write, the close. Run it as a candidate of bench/run beside NGINX and laneway:

    bench/run --scenarios small,close --candidates nginx,laneway,uvloop-floor \\
        --project "uvloop-floor=bench/.venv/bin/python bench/floor.py --port {port}"

and compare `rps/core`: the floor's is the most a single process of uvloop and httptools
can answer on that core, before a byte goes to a server.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import httptools
import uvloop

BODIES = {b"/": b"ok\n", b"/16k": b"x" * 16384, b"/1m": b"x" * (1 << 20)}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def response(body: bytes, keep_alive: bool) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s" % (
        len(body), connection, body)


RESPONSES = {(path, keep_alive): response(body, keep_alive)
             for path, body in BODIES.items() for keep_alive in (True, False)}


class Answer(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        assert self.transport is not None
        keep_alive = self.parser.should_keep_alive()
        self.transport.write(RESPONSES.get((self.url, keep_alive), NOT_FOUND))
        if not keep_alive:
            self.transport.close()


async def serve(protocol_factory: Callable[[], asyncio.Protocol], port: int) -> None:
    """Serve on 127.0.0.1:``port`` until stopped (minimal_proxy.py serves with it too)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, "127.0.0.1", port, backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()


def arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    return parser


def main() -> None:
    uvloop.run(serve(Answer, arguments(__doc__).parse_args().port))


if __name__ == "__main__":
    main()
