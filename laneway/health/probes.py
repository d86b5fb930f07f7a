"""Probes: one health check of one server, over a real connection, within a timeout.

Contract: ``await probe.check(server)`` never raises for anything the server or the network
does (refused, reset, timed out, malformed answer); it returns a ``ProbeResult`` saying
whether the check passed and why, in words fit for a log line. Only cancellation escapes.

``HttpProbe`` sends one request with ``Connection: close`` (a check never reuses the data
path's keep-alive connections) and reads the status line, and the body only when a body
substring is expected (at most ``BODY_LIMIT`` bytes of it). ``TcpProbe`` only connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httptools

from laneway.upstream import Server

READ_SIZE = 16 * 1024
BODY_LIMIT = 64 * 1024  # the expected substring must be within this much of the body
USER_AGENT = "laneway-health"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    reason: str  # e.g. "status 200", "connection refused", "timed out after 1s"


class Probe(Protocol):
    async def check(self, server: Server) -> ProbeResult: ...


def describe_error(error: BaseException) -> str:
    """A short reason for a failed connection, for a log line."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def seconds(value: float) -> str:
    return f"{value:g}s"


def format_statuses(expect_status: Sequence[tuple[int, int]]) -> str:
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in expect_status)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await writer.wait_closed()


class TcpProbe:
    """Passes when a TCP connection to the server is accepted within ``timeout``."""

    def __init__(self, *, timeout: float = 1.0) -> None:
        self.timeout = timeout

    async def check(self, server: Server) -> ProbeResult:
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(server.host, server.port)
        except TimeoutError:
            return ProbeResult(False, f"connect timed out after {seconds(self.timeout)}")
        except OSError as error:
            return ProbeResult(False, describe_error(error))
        # The close is not part of the check: the server has already answered.
        writer.transport.abort()
        return ProbeResult(True, "connected")


class ResponseReader:
    """httptools callbacks for one response: its status and, when wanted, the body's start."""

    def __init__(self, keep_body: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.keep_body = keep_body
        self.status: int | None = None
        self.body = bytearray()
        self.complete = False

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)

    @property
    def done(self) -> bool:
        """Enough is known to judge the response."""
        if self.status is None:
            return False
        return not self.keep_body or self.complete or len(self.body) >= BODY_LIMIT

    # Parser callbacks

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        # An interim response (100 Continue, 103 Early Hints) comes before the real one.
        if not 100 <= status < 200:
            self.status = status

    def on_body(self, body: bytes) -> None:
        if self.keep_body and self.status is not None and len(self.body) < BODY_LIMIT:
            self.body += body[:BODY_LIMIT - len(self.body)]

    def on_message_complete(self) -> None:
        if self.status is not None:
            self.complete = True


class HttpProbe:
    """Passes when ``METHOD path`` is answered with an expected status (and body substring)
    within ``timeout``, from connecting to the last byte needed."""

    def __init__(self, *, method: str = "GET", path: str = "/health", host: str | None = None,
                 expect_status: Sequence[tuple[int, int]] = ((200, 399),), expect_body: str | None = None,
                 timeout: float = 1.0, tls: ssl.SSLContext | None = None,
                 tls_server_name: str | None = None) -> None:
        self.method = method
        self.path = path
        self.host = host
        self.expect_status = tuple(expect_status)
        self.expect_body = expect_body.encode() if expect_body is not None else None
        self.timeout = timeout
        if expect_body is not None and method == "HEAD":
            raise ValueError("expect_body needs a method whose response has a body; "
                             "a response to HEAD has none")
        self.keep_body = self.expect_body is not None
        # HTTPS to the server, verified as the proxy's own connections are (the pool's tls).
        self.tls = tls
        self.tls_server_name = tls_server_name

    def request(self, server: Server) -> bytes:
        host = self.host or server.key
        return (f"{self.method} {self.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\n\r\n").encode("latin-1")

    async def check(self, server: Server) -> ProbeResult:
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if self.tls is None:
                    reader, writer = await asyncio.open_connection(server.host, server.port)
                else:
                    reader, writer = await asyncio.open_connection(
                        server.host, server.port, ssl=self.tls,
                        server_hostname=self.tls_server_name or server.host,
                        ssl_handshake_timeout=self.timeout)
                writer.write(self.request(server))
                response = await self.read(reader)
        except TimeoutError:
            return ProbeResult(False, f"timed out after {seconds(self.timeout)}")
        except httptools.HttpParserError as error:
            return ProbeResult(False, f"malformed response: {error}")
        except OSError as error:
            return ProbeResult(False, describe_error(error))
        finally:
            if writer is not None:
                writer.transport.abort()
        return self.judge(response)

    async def read(self, reader: asyncio.StreamReader) -> ResponseReader:
        response = ResponseReader(self.keep_body)
        while not response.done:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            response.feed(data)
        return response

    def judge(self, response: ResponseReader) -> ProbeResult:
        status = response.status
        if status is None:
            return ProbeResult(False, "connection closed before a response")
        if not any(low <= status <= high for low, high in self.expect_status):
            return ProbeResult(False, f"status {status}, expected {format_statuses(self.expect_status)}")
        if self.expect_body is not None:
            if self.expect_body not in response.body:
                where = "body" if len(response.body) < BODY_LIMIT else f"first {BODY_LIMIT} bytes of the body"
                return ProbeResult(False, f"status {status} but {self.expect_body.decode()!r} "
                                          f"is not in the {where}")
            return ProbeResult(True, f"status {status}, body has {self.expect_body.decode()!r}")
        return ProbeResult(True, f"status {status}")
