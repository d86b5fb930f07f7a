"""What the router may read of a request, and reading it lazily.

The router is handed the host, the request target and the method, which every request has
parsed anyway, plus the client connection itself as a ``Request``: its header lines and the
few headers the proxy keeps apart. Headers, cookies and query parameters are looked up only
when a route that names them is tried (``Facts``), so a listener whose routes need only host
and path pays nothing for them.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol
from urllib.parse import unquote_to_bytes

Address = IPv4Address | IPv6Address


class Request(Protocol):
    """The parts of a parsed request head the router reads (``laneway.http``'s client connection)."""

    # Field lines as received, ``b"Name: value\r\n"``, without the headers kept below.
    headers: list[bytes]
    upgrade: bytes | None
    forwarded_for: bytes | None
    content_length: bytes | None
    transfer_encoding: bytes | None
    # The client's address and its country, set only when some route of the listener matches
    # on them.
    peer_address: Address | None
    country: str | None


# Request headers the proxy keeps apart from ``headers``, and where it keeps them.
KEPT_APART = {
    b"upgrade": "upgrade",
    b"x-forwarded-for": "forwarded_for",
    b"content-length": "content_length",
    b"transfer-encoding": "transfer_encoding",
}


def parse_client_address(text: str | None) -> Address | None:
    """A peer address as the socket gives it; IPv4 clients of a dual-stack listener as IPv4."""
    if not text:
        return None
    try:
        address = ip_address(text.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def header_value(request: Request, lower_name: bytes) -> bytes | None:
    """The value of a header, lines of the same name joined with ", " (RFC 9110 5.3)."""
    kept = KEPT_APART.get(lower_name)
    if kept is not None:
        value: bytes | None = getattr(request, kept)
        return value
    size = len(lower_name) + 1
    wanted = lower_name + b":"
    values = [line[size:].strip() for line in request.headers if line[:size].lower() == wanted]
    if not values:
        return None
    return values[0] if len(values) == 1 else b", ".join(values)


def cookie_value(request: Request, name: bytes) -> bytes | None:
    """The first cookie called ``name`` in the Cookie header(s) (RFC 6265 5.4)."""
    for line in request.headers:
        if line[:7].lower() != b"cookie:":
            continue
        for pair in line[7:].split(b";"):
            key, _, value = pair.strip().partition(b"=")
            if key == name:
                return value.strip()
    return None


def query_value(url: bytes, name: bytes) -> bytes | None:
    """The first query parameter called ``name``, percent-decoded (``+`` stays ``+``)."""
    query = url.partition(b"?")[2]
    if not query:
        return None
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == name or (b"%" in key and unquote_to_bytes(key) == name):
            return unquote_to_bytes(value) if b"%" in value else value
    return None


class Facts:
    """One request's headers, cookies and query parameters, each read on first use."""

    __slots__ = ("_cookies", "_headers", "_query", "request", "url")

    def __init__(self, request: Request, url: bytes) -> None:
        self.request = request
        self.url = url
        self._headers: dict[bytes, bytes | None] = {}
        self._cookies: dict[bytes, bytes | None] = {}
        self._query: dict[bytes, bytes | None] = {}

    def header(self, lower_name: bytes) -> bytes | None:
        try:
            return self._headers[lower_name]
        except KeyError:
            value = self._headers[lower_name] = header_value(self.request, lower_name)
            return value

    def cookie(self, name: bytes) -> bytes | None:
        try:
            return self._cookies[name]
        except KeyError:
            value = self._cookies[name] = cookie_value(self.request, name)
            return value

    def query(self, name: bytes) -> bytes | None:
        try:
            return self._query[name]
        except KeyError:
            value = self._query[name] = query_value(self.url, name)
            return value
