"""The server name (SNI) in a TLS ClientHello, read from the bytes a client sent first.

Nothing is decrypted and nothing is consumed: the caller keeps the bytes and forwards them
as they came. The ClientHello is a handshake message (RFC 8446 4.1.2) carried in one or more
handshake records (5.1: "Handshake messages MAY be fragmented across multiple records"), and
records may arrive split across reads; ``read_server_name`` is called again on the longer
buffer until it can tell.

Contract: ``read_server_name(data)`` returns ``NeedMore(at_least)`` when more bytes are
needed (and how many in all, at least, before it can tell: the caller need not ask again
sooner), else a ``Hello`` whose ``server_name`` is the host name (lower case), or ``None``
when the bytes are not a TLS ClientHello or it carries no server_name extension (RFC 6066
3). A hello larger than ``MAX_HELLO``, or cut into more than ``MAX_RECORDS`` records, is
treated as not TLS: no client needs that, and the limits keep a client that trickles tiny
records from making each call walk ever more of them.

Written here rather than taken from a library: it runs once per connection on the hot path,
and only the few fields leading to one extension are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HANDSHAKE: Final = 22  # ContentType.handshake
CLIENT_HELLO: Final = 1  # HandshakeType.client_hello
SERVER_NAME: Final = 0  # ExtensionType.server_name (RFC 6066 3)
HOST_NAME: Final = 0  # NameType.host_name
MAX_RECORD: Final = 2**14  # RFC 8446 5.1: "The length MUST NOT exceed 2^14 bytes"
MAX_HELLO: Final = 64 * 1024
MAX_RECORDS: Final = 64


@dataclass(frozen=True, slots=True)
class Hello:
    server_name: str | None


@dataclass(frozen=True, slots=True)
class NeedMore:
    """More bytes are needed to tell: ``at_least`` in all."""

    at_least: int


NOT_TLS: Final = Hello(None)


def read_server_name(data: bytes) -> Hello | NeedMore:
    message = _handshake_message(data)
    if isinstance(message, NeedMore | Hello):
        return message
    return _server_name(message)


def _handshake_message(data: bytes) -> bytes | NeedMore | Hello:
    """The whole ClientHello body, joined from the records that carry it."""
    fragments = bytearray()
    position = 0
    records = 0
    needed: int | None = None  # the ClientHello's length, once its header has arrived
    while needed is None or len(fragments) < needed:
        if len(data) < position + 5:
            return _partial(data[position:], b"\x16\x03", position + 5)
        content_type, major, length = data[position], data[position + 1], int.from_bytes(
            data[position + 3:position + 5])
        records += 1
        if content_type != HANDSHAKE or major != 3 or not 0 < length <= MAX_RECORD or records > MAX_RECORDS:
            return NOT_TLS
        if len(data) < position + 5 + length:
            return NeedMore(position + 5 + length)
        fragments += data[position + 5:position + 5 + length]
        position += 5 + length
        if needed is None and len(fragments) >= 4:
            if fragments[0] != CLIENT_HELLO:
                return NOT_TLS
            needed = 4 + int.from_bytes(fragments[1:4])
            if needed > MAX_HELLO:
                return NOT_TLS
    return bytes(fragments[4:needed])


def _partial(start: bytes, prefix: bytes, at_least: int) -> NeedMore | Hello:
    """A record header cut short: wait for more only if it can still become one."""
    return NeedMore(at_least) if start[:2] == prefix[:len(start)] else NOT_TLS


def _server_name(hello: bytes) -> Hello:
    """RFC 8446 4.1.2: legacy_version, random, legacy_session_id, cipher_suites,
    legacy_compression_methods, extensions. Anything out of bounds is not TLS."""
    reader = _Reader(hello)
    try:
        reader.skip(2 + 32)
        reader.skip(reader.number(1))
        reader.skip(reader.number(2))
        reader.skip(reader.number(1))
        if reader.at_end():
            return NOT_TLS  # no extensions, so no server name
        extensions = _Reader(reader.take(reader.number(2)))
        while not extensions.at_end():
            kind = extensions.number(2)
            body = extensions.take(extensions.number(2))
            if kind == SERVER_NAME:
                return Hello(_host_name(_Reader(body)))
    except IndexError:
        return NOT_TLS
    return NOT_TLS


def _host_name(names: _Reader) -> str | None:
    """The host_name entry of a ServerNameList (RFC 6066 3)."""
    entries = _Reader(names.take(names.number(2)))
    while not entries.at_end():
        kind = entries.number(1)
        name = entries.take(entries.number(2))
        if kind == HOST_NAME:
            try:
                text = name.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text.lower().rstrip(".") or None
    return None


class _Reader:
    """Bounds-checked reads from a byte string; running past the end raises IndexError."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise IndexError("past the end")
        chunk = self.data[self.position:end]
        self.position = end
        return chunk

    def skip(self, count: int) -> None:
        self.take(count)

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size))

    def at_end(self) -> bool:
        return self.position >= len(self.data)
