"""Compressing a response on its way to the client: brotli or gzip, streamed.

The client must accept a coding (``Accept-Encoding``, q above 0; RFC 9110 12.5.3); laneway
takes the one it rates highest, brotli on a tie, since it is smaller for the same work, and
only when the ``brotli`` package can be imported (gzip otherwise). The response must be a
200 with a body, not encoded already (``Content-Encoding``: never compressed twice), of a
type the route lists, and not known to be smaller than the route's ``min_length``. The body
is then compressed as it streams (both keep a bounded window, never the whole body) and sent
chunked, with ``Content-Encoding`` and ``Vary: Accept-Encoding``; a strong ``ETag`` becomes
weak, since the bytes differ from the server's (RFC 9110 8.8.1).
"""

from __future__ import annotations

import re
import zlib
from typing import Protocol

from laneway.policies.compression import Compression

try:
    import brotli
except ImportError:  # a dependency, but laneway runs without it: gzip only
    brotli = None

_ACCEPT_TOKEN = re.compile(rb"\s*([a-z0-9*-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")
_CONTENT_TYPE = re.compile(rb"\r\ncontent-type:[ \t]*([^;\r]*)")
_CONTENT_ENCODING = re.compile(rb"\r\ncontent-encoding:")
_STRONG_ETAG = re.compile(rb"(\r\n[Ee][Tt][Aa][Gg]:[ \t]*)(\")")

GZIP_WINDOW = 31  # zlib's wbits for a gzip header and trailer
# brotli's window: 2^18 = 256 KiB instead of its default 4 MiB, so that a response being
# compressed holds little memory; larger windows gain little on web responses.
BROTLI_WINDOW = 18

BR, GZIP = b"br", b"gzip"


def choose_coding(accept_encoding: bytes) -> bytes | None:
    """``br``, ``gzip`` or None (neither is acceptable) for an Accept-Encoding value."""
    ratings: dict[bytes, float] = {}
    for item in accept_encoding.lower().split(b","):
        found = _ACCEPT_TOKEN.fullmatch(item)
        if found is None:
            continue
        coding, quality = found.groups()
        try:
            rating = 1.0 if quality is None else float(quality)
        except ValueError:
            rating = 0.0
        ratings[GZIP if coding == b"x-gzip" else coding] = rating  # x-gzip is gzip (RFC 9110 8.4.1.3)
    anything = ratings.get(b"*", 0.0)  # for codings the client does not name
    gzip_rating = ratings.get(GZIP, anything)
    brotli_rating = ratings.get(BR, anything) if brotli is not None else 0.0
    if brotli_rating > 0 and brotli_rating >= gzip_rating:
        return BR
    return GZIP if gzip_rating > 0 else None


def worth_compressing(fields: bytes, content_length: bytes | None, settings: Compression) -> bool:
    """``fields`` as laneway copies them through (each line after a CRLF)."""
    lower = fields.lower()
    if _CONTENT_ENCODING.search(lower):
        return False
    if content_length is not None and int(content_length) < settings.min_length:
        return False
    found = _CONTENT_TYPE.search(lower)
    return found is not None and found.group(1).strip() in settings.types


def weaken_etag(fields: bytes) -> bytes:
    return _STRONG_ETAG.sub(rb"\1W/\2", fields)


def encoded_fields(fields: bytes, coding: bytes) -> bytes:
    """The fields of a response laneway would compress, for a client taking ``coding`` (b""
    for none laneway has). Each says ``Vary: Accept-Encoding``, since another client gets it
    otherwise and a cache must tell the two apart (RFC 9110 12.5.5); a compressed one says
    its Content-Encoding, and its strong ETag becomes weak (the bytes are no longer the
    server's)."""
    if not coding:
        return fields + b"\r\nVary: Accept-Encoding"
    return b"%s\r\nContent-Encoding: %s\r\nVary: Accept-Encoding" % (weaken_etag(fields), coding)


class Encoder(Protocol):
    """A streaming compressor: ``compress`` each piece of the body, ``flush`` once at its end."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class BrotliEncoder:
    """brotli's streaming ``Compressor`` with zlib's method names."""

    __slots__ = ("compressor",)

    def __init__(self, quality: int) -> None:
        self.compressor = brotli.Compressor(quality=quality, lgwin=BROTLI_WINDOW)

    def compress(self, data: bytes, /) -> bytes:
        return self.compressor.process(data)

    def flush(self) -> bytes:
        return self.compressor.finish()


def compressor(settings: Compression, coding: bytes) -> Encoder:
    if coding == BR:
        return BrotliEncoder(settings.brotli_quality)
    return zlib.compressobj(settings.level, zlib.DEFLATED, GZIP_WINDOW)
