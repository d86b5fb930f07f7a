"""Bodies stream through in both directions with back-pressure and bounded memory.

The big transfers move 64 MiB of generated data (never held whole, in the test either) past a
reader that stops: a slow client for downloads, a server that holds off reading for uploads.
While it is stopped, back-pressure must reach the other end (the sender is blocked well short
of the whole body) and the process's resident memory must stay flat, since the proxy runs in
this process. Then the transfer finishes and the SHA-256 must match end to end.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.balancer import Balancer, wait_for
from tests.support.memory import PeakRss
from tests.support.payload import Digester, blocks, digest
from tests.support.raw import RawConnection

MiB = 1024 * 1024
BIG = 64 * MiB
MEMORY_BUDGET = 32 * MiB
SMALL_BUFFER = 128 * 1024  # the test client's socket buffer: the kernel must not absorb the test


def wait_until_quiet(progress: Callable[[], int], *, done: int, quiet: float = 0.3,
                     timeout: float = 15.0) -> int:
    """Poll ``progress`` until it stops moving for ``quiet`` seconds or reaches ``done``."""
    deadline = time.monotonic() + timeout
    last, since = progress(), time.monotonic()
    while True:
        time.sleep(0.02)
        now, value = time.monotonic(), progress()
        if value >= done:
            return value
        if value != last:
            last, since = value, now
        elif now - since >= quiet:
            return value
        if now > deadline:
            raise AssertionError(f"progress never settled within {timeout}s (at {value} of {done})")


def small_buffer_client(running: Balancer) -> httpx.Client:
    transport = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)])
    return running.client(transport=transport, timeout=30.0)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_download_to_a_slow_reader_streams_in_bounded_memory(
        balancer: Callable[..., Balancer], framing: str) -> None:
    running = balancer()
    backend = running.backend
    chunked = "1" if framing == "chunked" else "0"
    received = Digester()
    stalls: list[int] = []
    with small_buffer_client(running) as client:
        assert client.get("/bytes?n=1000").status_code == 200  # warm up: pools, buffers, parser
        backend.body_bytes_sent = 0
        with PeakRss() as memory, client.stream("GET", f"/bytes?n={BIG}&chunked={chunked}") as response:
            assert response.status_code == 200
            if framing == "content-length":
                assert response.headers["content-length"] == str(BIG)
            pieces = response.iter_raw(64 * 1024)
            for _ in range(4):  # read a quarter, then stop reading until the server is blocked
                stalls.append(wait_until_quiet(lambda: backend.body_bytes_sent, done=BIG))
                for piece in pieces:
                    received.update(piece)
                    if received.size >= len(stalls) * BIG // 4:
                        break
            for piece in pieces:
                received.update(piece)
    assert received.size == BIG
    assert received.hexdigest() == digest(BIG)
    assert stalls[0] < BIG // 2, f"the server sent {stalls[0]} bytes to a client that read nothing"
    assert memory.growth < MEMORY_BUDGET, f"memory grew by {memory.growth / MiB:.1f} MiB"


class Pusher:
    """Sends an iterator of byte strings, remembering what a blocked send left over."""

    def __init__(self, sock: socket.socket, pieces: Iterator[bytes]) -> None:
        self.sock = sock
        self.pieces = pieces
        self.pending = b""
        self.sent = 0

    def push_until_blocked(self, quiet: float = 0.3) -> bool:
        """Send until a send makes no progress for ``quiet`` seconds; False when all is sent."""
        self.sock.settimeout(quiet)
        while True:
            if not self.pending:
                self.pending = next(self.pieces, b"")
                if not self.pending:
                    return False
            try:
                count = self.sock.send(self.pending)
            except TimeoutError:
                return True
            self.sent += count
            self.pending = self.pending[count:]

    def push_all(self, timeout: float = 30.0) -> None:
        self.sock.settimeout(timeout)
        if self.pending:
            self.sock.sendall(self.pending)
            self.sent += len(self.pending)
        for piece in self.pieces:
            self.sock.sendall(piece)
            self.sent += len(piece)


def chunk_framed(size: int) -> Iterator[bytes]:
    for block in blocks(size):
        yield b"%x\r\n%s\r\n" % (len(block), block)
    yield b"0\r\n\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_to_a_slow_server_streams_in_bounded_memory(
        balancer: Callable[..., Balancer], framing: str) -> None:
    running = balancer()
    backend = running.backend
    assert running.get("/").status_code == 200  # warm up
    length = f"Content-Length: {BIG}" if framing == "content-length" else "Transfer-Encoding: chunked"
    head = f"POST /digest?hold=1 HTTP/1.1\r\nHost: a\r\n{length}\r\n\r\n".encode()
    body = blocks(BIG) if framing == "content-length" else chunk_framed(BIG)
    with RawConnection(running.address, timeout=30.0) as connection, PeakRss() as memory:
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        connection.send(head)
        wait_for(lambda: backend.holding, message="the server holding the request")
        pusher = Pusher(connection.sock, body)
        blocked = pusher.push_until_blocked()
        sent_while_held = pusher.sent
        backend.release()
        pusher.push_all()
        response = connection.read_response(timeout=30.0)
    assert blocked, "the whole body went out while the server read nothing"
    assert sent_while_held < BIG // 2, f"{sent_while_held} bytes sent while the server read nothing"
    assert response.status == 200, response
    assert json.loads(response.body) == {"size": BIG, "sha256": digest(BIG)}
    assert memory.growth < MEMORY_BUDGET, f"memory grew by {memory.growth / MiB:.1f} MiB"


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 1024 * 1024])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_echo_bodies_of_every_size(balancer: Callable[..., Balancer], size: int, framing: str) -> None:
    running = balancer()
    payload = b"".join(blocks(size))
    content: bytes | Iterator[bytes] = payload if framing == "content-length" else iter([payload])
    with running.client() as client:
        response = client.post("/echo", content=content)
    assert response.status_code == 200
    assert response.content == payload
    forwarded = running.backend.requests[0]
    assert forwarded.body_size == size
    if framing == "chunked":
        assert forwarded.header("transfer-encoding") == "chunked"
        assert forwarded.header("content-length") is None
    else:
        assert forwarded.header("content-length") == str(size)


def test_chunked_download_is_dechunked_the_same(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    size = 3 * MiB + 17
    with running.client() as client:
        response = client.get(f"/bytes?n={size}&chunked=1")
    assert response.status_code == 200
    assert len(response.content) == size
    assert Digester().hexdigest() != digest(size)
    check = Digester()
    check.update(response.content)
    assert check.hexdigest() == digest(size)


def test_close_delimited_body_reaches_an_http11_client_whole(balancer: Callable[..., Balancer]) -> None:
    """A response without Content-Length or chunked ends when the server closes (RFC 9112 6.3);
    the client must get every byte and a clear end, not a hang or a truncated body."""
    running = balancer()
    size = 2 * MiB + 5
    with RawConnection(running.address, timeout=15.0) as connection:
        connection.send(f"GET /until-close?n={size} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        response = connection.read_response(timeout=15.0)
        assert response.status == 200
        check = Digester()
        check.update(response.body)
        assert (check.size, check.hexdigest()) == (size, digest(size))
    assert running.backend.connections[0].closed


def test_close_delimited_body_reaches_an_http10_client_whole(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    size = MiB + 3
    with RawConnection(running.address, timeout=15.0) as connection:
        connection.send(f"GET /until-close?n={size} HTTP/1.0\r\n\r\n".encode())
        data = connection.wait_closed(timeout=15.0)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), head
    assert b"chunked" not in head.lower(), "an HTTP/1.0 client cannot read chunked"
    check = Digester()
    check.update(body)
    assert (check.size, check.hexdigest()) == (size, digest(size))


def test_chunked_response_reaches_an_http10_client_unchunked(balancer: Callable[..., Balancer]) -> None:
    """HTTP/1.0 has no chunked coding: the body goes as it is, ended by the close."""
    running = balancer()
    size = 300 * 1024 + 7
    with RawConnection(running.address, timeout=15.0) as connection:
        connection.send(f"GET /bytes?n={size}&chunked=1 HTTP/1.0\r\n\r\n".encode())
        data = connection.wait_closed(timeout=15.0)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), head
    assert b"transfer-encoding" not in head.lower()
    check = Digester()
    check.update(body)
    assert (check.size, check.hexdigest()) == (size, digest(size))


def test_response_starts_before_the_server_finishes(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"GET /stall-body?n=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        data = connection.read_exactly(1, timeout=5.0)
        while b"\r\n\r\n" not in data:
            data += connection.read_exactly(1, timeout=5.0)
        assert data.startswith(b"HTTP/1.1 200")
        assert connection.read_exactly(1000, timeout=5.0) == b"x" * 1000


def test_request_body_reaches_the_server_before_the_client_finishes(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    backend = running.backend
    with RawConnection(running.address) as connection:
        connection.send(b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + b"a" * 1000)
        wait_for(lambda: backend.requests and backend.requests[0].body_size == 1000,
                 message="the first half of the body at the server")
        connection.send(b"b" * 1000)
        response = connection.read_response()
    assert response.status == 200
    assert json.loads(response.body)["size"] == 2000
    assert bytes(backend.requests[0].body) == b"a" * 1000 + b"b" * 1000
