"""Bytes laneway writes itself: status lines, error responses, header names it handles.

Header names are compared in lower case. Hop-by-hop headers (RFC 9110 7.6.1) describe one
connection and are never forwarded; laneway writes its own framing for each side.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

STATUS_LINES: dict[int, bytes] = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        line = STATUS_LINES[status] = f"HTTP/1.1 {status} Unknown\r\n".encode()
    return line


def error_body(status: int, detail: str) -> bytes:
    """The short plain-text body of laneway's own answers: ``404 Not Found: <detail>``."""
    return f"{status} {HTTPStatus(status).phrase if status in STATUS_LINES else ''}: {detail}\n".encode()


def error_response(status: int, detail: str, *, close: bool = True, headers: bytes = b"") -> bytes:
    """A complete short plain-text response saying what went wrong (``headers``: extra lines,
    each ending in CRLF)."""
    body = error_body(status, detail)
    head = [
        status_line(status),
        b"Content-Type: text/plain; charset=utf-8\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"Connection: close\r\n" if close else b"",
        headers,
        b"\r\n",
    ]
    return b"".join(head) + body


# Request headers laneway reads, replaces or drops rather than copying through.
HOST: Final = b"host"
CONTENT_LENGTH: Final = b"content-length"
TRANSFER_ENCODING: Final = b"transfer-encoding"
CONNECTION: Final = b"connection"
UPGRADE: Final = b"upgrade"
EXPECT: Final = b"expect"
X_FORWARDED_FOR: Final = b"x-forwarded-for"

# Never forwarded in either direction (RFC 9110 7.6.1, plus the Proxy-* family).
HOP_BY_HOP: Final = frozenset({
    b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade",
    b"proxy-connection", b"proxy-authorization", b"proxy-authenticate",
})

# Set by laneway on every forwarded request, so a client's own values are dropped.
# X-SSL-Client-*: set on listeners that verify client certificates (client_certificate.py),
# and dropped from clients everywhere so that no server can be fooled by a client's own.
SET_BY_PROXY: Final = frozenset({
    b"x-real-ip", b"x-forwarded-proto", b"x-ssl-client-verify", b"x-ssl-client-dn"})

# Every request header name the parser must look at instead of copying through.
REQUEST_SPECIAL: Final = HOP_BY_HOP | SET_BY_PROXY | {HOST, CONTENT_LENGTH, EXPECT, X_FORWARDED_FOR}
RESPONSE_SPECIAL: Final = HOP_BY_HOP | {CONTENT_LENGTH}
