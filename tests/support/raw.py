"""Raw-socket clients and a small strict response parser, for bytes httpx would not send.

``raw_request`` sends bytes and returns everything that comes back until the proxy closes
the connection or the timeout passes. ``RawConnection`` keeps one connection open and reads
responses one at a time (keep-alive, pipelining, 100-continue, upgrades).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.support.headers import HeaderLookup

Address = tuple[str, int]


@dataclass
class Response(HeaderLookup):
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw_head: bytes = b""


    @property
    def connection_tokens(self) -> set[str]:
        values = self.header_values("connection")
        return {token.strip().lower() for value in values for token in value.split(",")}


class Incomplete(Exception):
    """More bytes are needed to parse a whole response."""


def parse_head(data: bytes) -> tuple[Response, int]:
    """The status line and headers at the start of ``data``, and where the body starts."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise Incomplete
    lines = data[:end].split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    response = Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", raw_head=data[:end + 4])
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or name != name.strip() or not name:
            raise ValueError(f"not a header line: {line!r}")
        response.headers.append((name, value.strip()))
    return response, end + 4


def _dechunk(data: bytes, start: int) -> tuple[bytes, int]:
    body = bytearray()
    position = start
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise Incomplete
        size = int(data[position:line_end].split(b";", 1)[0], 16)
        position = line_end + 2
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", position - 2)
            if trailer_end < 0:
                raise Incomplete
            return bytes(body), trailer_end + 4
        if len(data) < position + size + 2:
            raise Incomplete
        body += data[position:position + size]
        if data[position + size:position + size + 2] != b"\r\n":
            raise ValueError(f"chunk of {size} bytes not followed by CRLF")
        position += size + 2


def parse_response(data: bytes, *, method: str = "GET", closed: bool = False) -> tuple[Response, bytes]:
    """One response from the start of ``data`` and the bytes after it.

    The body is framed as RFC 9112 6.3 says: none for HEAD, 1xx, 204 and 304; chunked;
    Content-Length; else until close (complete only when ``closed``). Raises ``Incomplete``.
    """
    response, start = parse_head(data)
    status = response.status
    if method == "HEAD" or status < 200 or status in (204, 304):
        return response, data[start:]
    if "chunked" in (response.header("transfer-encoding") or "").lower():
        response.body, end = _dechunk(data, start)
        return response, data[end:]
    length = response.header("content-length")
    if length is not None:
        end = start + int(length)
        if len(data) < end:
            raise Incomplete
        response.body = data[start:end]
        return response, data[end:]
    if not closed:
        raise Incomplete
    response.body = data[start:]
    return response, b""


def parse_responses(data: bytes, *, methods: Iterable[str] = (), closed: bool = True) -> list[Response]:
    """Every whole response in ``data``, in order (``methods`` says which answered a HEAD)."""
    responses = []
    method_list = list(methods)
    while data:
        method = method_list[0] if method_list else "GET"
        try:
            response, data = parse_response(data, method=method, closed=closed)
        except Incomplete:
            break
        responses.append(response)
        if response.status >= 200 and method_list:
            method_list.pop(0)
    return responses


@dataclass
class RawReply:
    data: bytes
    closed: bool  # the proxy closed (FIN or reset) before the timeout
    reset: bool = False

    @property
    def response(self) -> Response:
        """The first final response in the reply."""
        for response in parse_responses(self.data, closed=self.closed):
            if response.status >= 200:
                return response
        raise AssertionError(f"no whole response in {self.data[:400]!r}")


def connect(address: Address, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def raw_request(address: Address, data: bytes, timeout: float = 5.0, *, split: bool = False) -> RawReply:
    """Send ``data`` (whole, or byte by byte when ``split``) and read until close or ``timeout``.

    When split, sending stops as soon as the proxy answers: it is allowed to reject a request
    before the rest of it arrives.
    """
    with connect(address, timeout) as sock:
        received = bytearray()
        if split:
            for index in range(len(data)):
                try:
                    sock.sendall(data[index:index + 1])
                except OSError:
                    break
                if _readable(sock):
                    break
        else:
            sock.sendall(data)
        closed, reset = read_until_closed(sock, received, timeout)
        return RawReply(bytes(received), closed, reset)


def _readable(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


def read_until_closed(sock: socket.socket, into: bytearray, timeout: float) -> tuple[bool, bool]:
    """Read into ``into`` until the peer closes or ``timeout`` passes: (closed, reset)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False, False
        except ConnectionResetError:
            return True, True
        if not chunk:
            return True, False
        into += chunk


class RawConnection:
    """One client connection: send bytes, read whole responses one at a time."""

    def __init__(self, address: Address, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.sock = connect(address, timeout)
        self.buffer = b""
        self.closed = False

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        late = f"nothing more within the time allowed; have {self.buffer[:300]!r}"
        if remaining <= 0:
            raise TimeoutError(late)
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(late) from None
        if not chunk:
            self.closed = True
        self.buffer += chunk

    def read_response(self, method: str = "GET", timeout: float | None = None) -> Response:
        """The next response (interim ones too), waiting up to ``timeout`` for it to be whole."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                response, self.buffer = parse_response(self.buffer, method=method, closed=self.closed)
                return response
            except Incomplete:
                if self.closed:
                    have = self.buffer[:300]
                    raise ConnectionError(f"closed before a whole response; have {have!r}") from None
                self._fill(deadline)

    def read_head(self, timeout: float | None = None) -> Response:
        """The next response head alone; its body stays to be read as it comes (``read_chunk``)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                response, end = parse_head(self.buffer)
                self.buffer = self.buffer[end:]
                return response
            except Incomplete:
                if self.closed:
                    raise ConnectionError(f"closed before a whole head; have {self.buffer[:300]!r}") from None
                self._fill(deadline)

    def read_chunk(self, timeout: float | None = None) -> bytes:
        """The data of the next chunk of a chunked body (b"" for the last one)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end >= 0:
                size = int(self.buffer[:line_end].split(b";")[0], 16)
                end = line_end + 2 + size + 2
                if len(self.buffer) >= end:
                    data, self.buffer = self.buffer[line_end + 2:end - 2], self.buffer[end:]
                    return data
            if self.closed:
                raise ConnectionError(f"closed inside a chunk; have {self.buffer[:300]!r}")
            self._fill(deadline)

    def read_exactly(self, size: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buffer) < size:
            if self.closed:
                raise ConnectionError(f"closed after {len(self.buffer)} of {size} bytes")
            self._fill(deadline)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def wait_closed(self, timeout: float | None = None) -> bytes:
        """Everything until the proxy closes; fails if it does not close within ``timeout``."""
        received = bytearray(self.buffer)
        self.buffer = b""
        if not self.closed:
            closed, _ = read_until_closed(self.sock, received, timeout or self.timeout)
            if not closed:
                raise AssertionError(f"the connection is still open after {timeout or self.timeout}s")
            self.closed = True
        return bytes(received)

    def is_open_after(self, seconds: float) -> bool:
        """True if nothing arrives and the connection stays open for ``seconds``."""
        received = bytearray()
        closed, _ = read_until_closed(self.sock, received, seconds)
        self.buffer += bytes(received)
        return not closed and not received
