#!/usr/bin/env python3
"""The Python cost of one proxied request, without sockets: where the hot path spends.

Drives a real ClientConnection and UpstreamConnection with in-memory transports: a request
is fed to the client side, the bytes laneway writes to the server are checked, a response is
fed to the server side, and the bytes written to the client are checked. What remains is
laneway's own per-request work (parsing, routing, picking, framing), which is what separates
it from NGINX once the system calls are equal. Use it to compare before and after a change;
throughput claims still come from bench/run.

    python3 bench/hotpath.py                 # microseconds per request, keep-alive and close
    python3 bench/hotpath.py --profile       # and the top functions by own time
    python3 bench/hotpath.py --routes 100    # with 100 routes, the request matching the last
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from routes import KINDS, routes  # bench/routes.py, beside this file

from laneway.config import parse_config
from laneway.http.client import ClientConnection
from laneway.http.upstream import UpstreamConnection
from laneway.runtime.server import Runtime

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
CLOSE_REQUEST = REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")


class MemoryTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer = peer
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0  # everything "written" at once

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def measure(count: int, repeat: int, profile: bool, route_count: int = 1, kind: str = "prefix") -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0",
                                          "routes": routes(route_count, kind, pool="p")}],
                           "pools": {"p": {"algorithm": "round_robin",
                                           "servers": [{"address": "127.0.0.1:9"}]}}})
    runtime = Runtime(config)
    await runtime.start()
    listener = runtime.listeners[0]
    server = runtime.pools["p"].servers[0]
    client = ClientConnection(listener)
    client_transport = MemoryTransport(("127.0.0.1", 50000))
    client.connection_made(client_transport)
    upstream = UpstreamConnection(server, listener.sweeper)
    upstream_transport = MemoryTransport(("127.0.0.1", 9))
    upstream.connection_made(upstream_transport)
    server.connections.give_back(upstream, listener.loop.time())

    def one() -> None:
        client.data_received(REQUEST)
        upstream.data_received(RESPONSE)

    def one_connection() -> None:
        # Connection: close: a new client connection per request, as bench/run's close scenario.
        fresh = ClientConnection(listener)
        transport = MemoryTransport(("127.0.0.1", 50001))
        fresh.connection_made(transport)
        fresh.data_received(CLOSE_REQUEST)
        upstream.data_received(RESPONSE)
        fresh.connection_lost(None)
        client_transport.written.extend(transport.written)

    one()
    assert upstream_transport.written[-1].startswith(b"GET / HTTP/1.1\r\n"), upstream_transport.written
    assert client_transport.written[-1].endswith(b"\r\n\r\nok\n"), client_transport.written
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for name, request in (("keep-alive", one), ("Connection: close", one_connection)):
        best = float("inf")
        for _ in range(repeat):  # the best of several runs: other work on the machine only adds
            started = time.perf_counter()
            for _ in range(count):
                request()
                client_transport.written.clear()
                upstream_transport.written.clear()
            best = min(best, time.perf_counter() - started)
        print(f"{best / count * 1e6:6.2f} us of Python per {name} request (best of {repeat} x {count})")
    if profiler:
        profiler.disable()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    client.connection_lost(None)
    await runtime.shutdown(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--routes", type=int, default=1, help="routes; the request matches the last (1)")
    parser.add_argument("--kind", choices=KINDS, default="prefix", help="routes of bench/routes.py (prefix)")
    args = parser.parse_args()
    work = measure(args.count, args.repeat, args.profile, args.routes, args.kind)
    try:
        import uvloop  # as laneway runs in production
    except ImportError:
        asyncio.run(work)
    else:
        uvloop.run(work)


if __name__ == "__main__":
    main()
