"""The PROXY protocol, versions 1 and 2 (HAProxy's proxy-protocol.txt): the client's address
sent ahead of a connection's bytes, so that a server behind a layer 4 proxy still sees it.

``header_v1`` and ``header_v2`` build what laneway sends to a pool's servers (HAProxy's
``send-proxy`` and ``send-proxy-v2``). ``read_header`` parses what a balancer in front of
laneway sends. It is strict, as the specification asks of a receiver ("the receiver MUST
... reject the connection" on anything malformed, section 2.1): a header that is malformed,
too long, or missing altogether raises ``ProxyHeaderError`` and the connection is closed.

Written here rather than taken from a library: it runs once per connection on the hot path,
it is small, and it must reject exactly what the specification says, no more and no less.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
# Section 2.1: "a receiver ... can read the entire header at once ... at most 107 bytes".
V1_MAX = 107
# A v2 header declares its length in 16 bits; a balancer in front sends a few TLVs at most.
V2_MAX_LENGTH = 4096
V1_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")

Address = tuple[str, int]


class ProxyHeaderError(Exception):
    """The bytes are not a valid PROXY protocol header; the connection must be closed."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header: ``source`` and ``destination`` are ``None`` for ``UNKNOWN`` and
    ``LOCAL`` (the connection's own addresses apply, section 2.1 and 2.2)."""

    source: Address | None
    destination: Address | None
    length: int  # bytes of the header, to skip before the client's own bytes


def _unmapped(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address, with an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) as IPv4."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def header_v1(source: Address, destination: Address) -> bytes:
    """``PROXY TCP4 src dst sport dport\\r\\n``; ``PROXY UNKNOWN\\r\\n`` when the families differ."""
    src, dst = _unmapped(source[0]), _unmapped(destination[0])
    if src.version != dst.version:
        return b"PROXY UNKNOWN\r\n"
    family = "TCP4" if src.version == 4 else "TCP6"
    return f"PROXY {family} {src} {dst} {source[1]} {destination[1]}\r\n".encode("ascii")


def header_v2(source: Address, destination: Address) -> bytes:
    """The binary header, command PROXY, over TCP (family AF_UNSPEC when the families differ)."""
    src, dst = _unmapped(source[0]), _unmapped(destination[0])
    if src.version != dst.version:
        return V2_SIGNATURE + b"\x21\x00\x00\x00"
    family = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(body)) + body


def read_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; ``None`` when more bytes are needed to tell."""
    if data[:12] == V2_SIGNATURE[:len(data)] and data[:1] == b"\r":
        return _read_v2(data)
    if data[:6] == V1_PREFIX[:len(data)]:
        return _read_v1(data)
    raise ProxyHeaderError(f"expected a PROXY protocol header, got {data[:16]!r}")


def _read_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError(f"PROXY v1 header without CRLF in its first {V1_MAX} bytes")
        return None
    parts = data[:end].split(b" ")
    if parts[:2] == [b"PROXY", b"UNKNOWN"]:
        return ProxyHeader(None, None, end + 2)  # the rest of the line is to be ignored (2.1)
    if len(parts) != 6 or parts[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError(f"malformed PROXY v1 header {data[:end]!r}")
    version = 4 if parts[1] == b"TCP4" else 6
    try:
        source, destination = (ipaddress.ip_address(part.decode("ascii")) for part in parts[2:4])
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1 header with an invalid address: {data[:end]!r}") from None
    if source.version != version or destination.version != version:
        raise ProxyHeaderError(f"PROXY v1 header whose addresses are not {parts[1].decode()}: {data[:end]!r}")
    ports = []
    for part in parts[4:6]:
        if not V1_PORT.fullmatch(part) or int(part) > 65535:
            raise ProxyHeaderError(f"PROXY v1 header with an invalid port {part!r}")
        ports.append(int(part))
    return ProxyHeader((str(source), ports[0]), (str(destination), ports[1]), end + 2)


def _read_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < 16:
        return None
    if data[:12] != V2_SIGNATURE:
        raise ProxyHeaderError("malformed PROXY v2 signature")
    version_command, family, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 header with version {version_command >> 4}, expected 2")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyHeaderError(f"PROXY v2 header with unknown command {command}")
    if length > V2_MAX_LENGTH:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes, more than {V2_MAX_LENGTH}")
    if len(data) < 16 + length:
        return None
    total = 16 + length
    if command == 0 or family in (0x00, 0x31, 0x32):
        # LOCAL (the balancer's own health check), AF_UNSPEC or a UNIX socket: no client address.
        return ProxyHeader(None, None, total)
    sizes = {0x11: 12, 0x21: 36}
    if family not in sizes:
        raise ProxyHeaderError(f"PROXY v2 header for family/protocol 0x{family:02x}; a tcp listener "
                               "takes TCP over IPv4 (0x11) or IPv6 (0x21)")
    size = sizes[family]
    if length < size:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes, too short for its addresses ({size})")
    half = (size - 4) // 2
    source = ipaddress.ip_address(data[16:16 + half])
    destination = ipaddress.ip_address(data[16 + half:16 + 2 * half])
    source_port, destination_port = struct.unpack_from("!HH", data, 16 + 2 * half)
    return ProxyHeader((str(source), source_port), (str(destination), destination_port), total)
