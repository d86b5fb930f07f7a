"""The demo servers behind ``laneway demo``: real sockets on loopback, raw bytes and httpx."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvloop

from laneway.runtime.demo import DemoServer, demo_config, parse_head, start_demo_servers


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@asynccontextmanager
async def demo_server(delay: float = 0.0, idle_timeout: float = 75.0) -> AsyncIterator[DemoServer]:
    server = DemoServer(2, "fast", delay, idle_timeout=idle_timeout)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def connect(
    address: tuple[str, int],
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader, *, head: bool = False) -> Response:
    status_line = await reader.readline()
    version, status, _ = status_line.decode().split(" ", 2)
    assert version == "HTTP/1.1"
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b"" if head else await reader.readexactly(int(headers["content-length"]))
    return Response(int(status), headers, body)


async def at_eof(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(1), 5) == b""


Runner = Callable[[Callable[[], Awaitable[None]]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Runs a scenario on asyncio's loop and on uvloop's, which ``laneway demo`` uses."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def run_scenario(scenario: Callable[[], Awaitable[None]]) -> None:
        async def bounded() -> None:
            await asyncio.wait_for(scenario(), 10)

        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(bounded())

    return run_scenario


def test_a_get_is_answered_with_a_body_naming_the_server(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 200
            assert response.body == b"hello from demo server 2 (fast)\n"
            assert response.headers["content-length"] == str(len(response.body))
            assert response.headers["x-demo-server"] == "2"
            assert server.requests == 1

    run(scenario)


def test_health_answers_ok(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://{server.address[0]}:{server.address[1]}/health")
            assert (response.status_code, response.text) == (200, "ok\n")

    run(scenario)


def test_httpx_reuses_one_keep_alive_connection(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server:
            url = f"http://{server.address[0]}:{server.address[1]}/anything?x=1"
            async with httpx.AsyncClient() as client:
                for _ in range(5):
                    response = await client.get(url)
                    assert response.text == "hello from demo server 2 (fast)\n"
                assert len(server.connections) == 1
            assert server.requests == 5

    run(scenario)


def test_head_gets_the_headers_of_get_and_no_body(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(b"HEAD / HTTP/1.1\r\nHost: demo\r\n\r\n"
                         b"GET /health HTTP/1.1\r\nHost: demo\r\n\r\n")
            head = await read_response(reader, head=True)
            assert head.headers["content-length"] == str(len(b"hello from demo server 2 (fast)\n"))
            # The next bytes are the second response, not a body for the HEAD.
            assert (await read_response(reader)).body == b"ok\n"

    run(scenario)


def test_pipelined_requests_are_answered_in_order(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server(delay=0.01) as server, connect(server.address) as (reader, writer):
            writer.write(b"".join(f"GET /{n} HTTP/1.1\r\nHost: demo\r\n\r\n".encode() for n in range(3))
                         + b"GET /health HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
            bodies = [(await read_response(reader)).body for _ in range(4)]
            assert bodies[:3] == [b"hello from demo server 2 (fast)\n"] * 3
            assert bodies[3] == b"ok\n"
            assert await at_eof(reader)

    run(scenario)


def test_a_long_pipeline_pauses_reading_and_is_answered_whole(run: Runner) -> None:
    count = 3000  # about 100 KiB of requests: more than the server buffers before it pauses reading

    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(b"GET /health HTTP/1.1\r\nHost: demo\r\n\r\n" * count)
            for _ in range(count):
                assert (await read_response(reader)).body == b"ok\n"
            assert server.requests == count

    run(scenario)


def test_request_bodies_are_read_and_discarded(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(b"POST /upload HTTP/1.1\r\nHost: demo\r\nContent-Length: 16\r\n\r\nGET / HTTP")
            writer.write(b"/1.1\r\n")  # body bytes that look like a request must not be taken for one
            writer.write(b"PUT / HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n")
            writer.write(b"GET /health HTTP/1.1\r\nHost: demo\r\n\r\n")
            responses = [await read_response(reader) for _ in range(3)]
            assert [r.status for r in responses] == [200, 200, 200]
            assert responses[2].body == b"ok\n"
            assert server.requests == 3

    run(scenario)


def test_a_body_arriving_byte_by_byte_is_read_whole(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            data = (b"POST / HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: demo\r\n\r\n")
            for index in range(len(data)):
                writer.write(data[index:index + 1])
                await writer.drain()
            assert (await read_response(reader)).status == 200
            assert (await read_response(reader)).body == b"ok\n"

    run(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "keeps_open"),
    [
        (b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection_header(
    request_bytes: bytes, keeps_open: bool, run: Runner
) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(request_bytes)
            response = await read_response(reader)
            assert response.headers["connection"] == ("keep-alive" if keeps_open else "close")
            if keeps_open:
                writer.write(request_bytes)
                assert (await read_response(reader)).status == 200
            else:
                assert await at_eof(reader)

    run(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: demo\r\n\r\n", 505),
        (b"GET / HTTP/1.1 extra\r\nHost: demo\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),  # HTTP/0.9
        (b"GET / HTTP/1.1\r\nHost : demo\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nHost: demo\r\nX: a\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost: demo\nX: y\r\n\r\n", 400),  # bare LF
        (b"POST / HTTP/1.1\r\nHost: demo\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: demo\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: demo\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
        (b"GET / HTTP/1.1\r\nHost: demo\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: demo\r\nX: " + b"a" * 20_000, 431),  # no end in sight
    ],
)
def test_what_cannot_be_framed_is_refused_and_the_connection_closed(
    request_bytes: bytes, status: int, run: Runner
) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(request_bytes)
            response = await read_response(reader)
            assert response.status == status
            assert response.headers["connection"] == "close"
            assert response.headers["content-length"] == str(len(response.body))
            assert await at_eof(reader)
            assert server.requests == 0

    run(scenario)


def test_an_empty_line_before_a_request_is_ignored(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server() as server, connect(server.address) as (reader, writer):
            writer.write(b"\r\nGET /health HTTP/1.1\r\nHost: demo\r\n\r\n")
            assert (await read_response(reader)).body == b"ok\n"

    run(scenario)


def test_the_slow_server_takes_its_delay_and_holds_the_next_request(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server(delay=0.1) as server, connect(server.address) as (reader, writer):
            loop = asyncio.get_running_loop()
            started = loop.time()
            writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n" * 2)
            await read_response(reader)
            await read_response(reader)
            assert loop.time() - started >= 0.19

    run(scenario)


def test_an_idle_connection_is_closed_after_the_idle_timeout(run: Runner) -> None:
    async def scenario() -> None:
        async with demo_server(idle_timeout=0.05) as server, connect(server.address) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
            await read_response(reader)
            assert await at_eof(reader)

    run(scenario)


def test_close_stops_listening_and_closes_connections(run: Runner) -> None:
    async def scenario() -> None:
        server = DemoServer(1, "fast", 0.0)
        address = await server.start()
        async with connect(address) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
            await read_response(reader)
            await server.close()
            assert await at_eof(reader)
            assert not server.connections
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(address, timeout=5).close()

    run(scenario)


def test_the_demo_has_two_fast_servers_and_a_slow_one(run: Runner) -> None:
    async def scenario() -> None:
        servers = await start_demo_servers()
        try:
            assert [(s.number, s.kind) for s in servers] == [(1, "fast"), (2, "fast"), (3, "slow")]
            assert servers[2].delay >= 0.1 > servers[0].delay
            assert len({s.address for s in servers}) == 3
            config = demo_config(("127.0.0.1", 0), servers)
        finally:
            await asyncio.gather(*(s.close() for s in servers))
        assert config.listeners[0].host_port == ("127.0.0.1", 0)
        [pool] = config.pools.values()
        assert [server.host_port for server in pool.servers] == [s.address for s in servers]

    run(scenario)


def test_parse_head_reads_method_target_and_framing() -> None:
    request = parse_head(b"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nConnection: Close")
    assert (request.method, request.target, request.content_length) == (b"POST", b"/x?y=1", 5)
    assert request.keep_alive is False and request.chunked is False
