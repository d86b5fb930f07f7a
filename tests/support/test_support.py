"""The test support code itself: payloads, the raw response parser, the backend, the loop."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest

from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread
from tests.support.payload import BLOCK_SIZE, Digester, blocks, digest
from tests.support.raw import Incomplete, RawConnection, parse_response, parse_responses, raw_request


@pytest.mark.parametrize("size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 5])
def test_payload_has_its_size_and_digest(size: int) -> None:
    data = b"".join(blocks(size))
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == digest(size)


def test_payload_blocks_differ_so_reordering_shows() -> None:
    first, second = list(blocks(2 * BLOCK_SIZE))
    assert first != second
    assert digest(2 * BLOCK_SIZE) != hashlib.sha256(second + first).hexdigest()


def test_digester_matches_hashlib() -> None:
    digester = Digester()
    for piece in (b"ab", b"", b"c" * 1000):
        digester.update(piece)
    assert (digester.size, digester.hexdigest()) == (1002, hashlib.sha256(b"ab" + b"c" * 1000).hexdigest())


def test_parser_reads_pipelined_responses_of_every_framing() -> None:
    data = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"  # answers a HEAD: no body
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n"
            b"HTTP/1.1 200 OK\r\n\r\nuntil close")
    responses = parse_responses(data, methods=["POST", "HEAD", "GET", "GET", "GET"], closed=True)
    assert [(r.status, r.body) for r in responses] == [
        (100, b""), (200, b"ok"), (200, b""), (200, b"abc"), (204, b""), (200, b"until close")]


def test_parser_wants_more_until_a_response_is_whole() -> None:
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    for end in range(len(whole)):
        with pytest.raises(Incomplete):
            parse_response(whole[:end])
    assert parse_response(whole)[0].body == b"hello"


def test_parser_refuses_what_is_not_a_response() -> None:
    with pytest.raises(ValueError, match="status line"):
        parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n")
    with pytest.raises(ValueError, match="header line"):
        parse_response(b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n")


def test_loop_thread_runs_coroutines_and_reports_timeouts() -> None:
    loop = LoopThread().start()
    try:
        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        assert loop.run(answer()) == 42
        with pytest.raises(TimeoutError):
            loop.run(asyncio.sleep(5), timeout=0.05)
    finally:
        loop.stop()


@pytest.fixture
def backend() -> Iterator[tuple[LoopThread, Backend]]:
    loop = LoopThread().start()
    server = loop.run(Backend("direct").start())
    yield loop, server
    loop.run(server.stop())
    loop.stop()


def test_backend_records_raw_bytes_and_requests(backend: tuple[LoopThread, Backend]) -> None:
    _, server = backend
    request = b"POST /echo?a=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc"
    with RawConnection(server.address) as connection:
        connection.send(request)
        response = connection.read_response()
    assert (response.status, response.body, response.header("x-backend")) == (200, b"abc", "direct")
    record = server.connections[0]
    assert bytes(record.raw) == request
    (parsed,) = record.requests
    assert (parsed.method, parsed.target) == ("POST", "/echo?a=1")
    assert (parsed.path, parsed.query) == ("/echo", {"a": "1"})
    assert parsed.headers == [("Host", "h"), ("X-A", "1"), ("Content-Length", "3")]
    assert parsed.complete


def test_backend_records_what_it_cannot_parse(backend: tuple[LoopThread, Backend]) -> None:
    _, server = backend
    reply = raw_request(server.address, b"NOT HTTP\r\n\r\n")
    assert reply.response.status == 400
    assert server.connections[0].parse_error is not None


def test_backend_resets_without_answering(backend: tuple[LoopThread, Backend]) -> None:
    _, server = backend
    reply = raw_request(server.address, b"GET /reset HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (reply.data, reply.closed, reply.reset) == (b"", True, True)
