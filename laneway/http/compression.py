"""Compressing a response on its way to the client: gzip, streamed.

The client must accept gzip (``Accept-Encoding``, q above 0); the response must be a 200 with
a body, not encoded already (``Content-Encoding``: never compressed twice), of a type the
route lists, and not known to be smaller than the route's ``min_length``. The body is then
compressed as it streams (zlib keeps a bounded window, never the whole body) and sent
chunked, with ``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``; a strong ``ETag``
becomes weak, since the bytes differ from the server's (RFC 9110 8.8.1).
"""

from __future__ import annotations

import re
import zlib

from laneway.policies.compression import Compression

_ACCEPT_TOKEN = re.compile(rb"\s*([a-z*]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")
_CONTENT_TYPE = re.compile(rb"\r\ncontent-type:[ \t]*([^;\r]*)")
_CONTENT_ENCODING = re.compile(rb"\r\ncontent-encoding:")
_STRONG_ETAG = re.compile(rb"(\r\n[Ee][Tt][Aa][Gg]:[ \t]*)(\")")

GZIP_WINDOW = 31  # zlib's wbits for a gzip header and trailer


def accepts_gzip(accept_encoding: bytes) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 12.5.3)."""
    allowed = None
    for item in accept_encoding.lower().split(b","):
        found = _ACCEPT_TOKEN.fullmatch(item)
        if found is None:
            continue
        coding, quality = found.groups()
        try:
            ok = quality is None or float(quality) > 0
        except ValueError:
            ok = False
        if coding == b"gzip":
            return ok
        if coding == b"*":
            allowed = ok
    return bool(allowed)


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


def compressor(settings: Compression) -> zlib._Compress:
    return zlib.compressobj(settings.level, zlib.DEFLATED, GZIP_WINDOW)
