"""Which responses a route compresses (NGINX's gzip, gzip_types, gzip_min_length) and how hard."""

from __future__ import annotations

from dataclasses import dataclass, field

# Text-like types worth compressing; images, video and archives are compressed already.
DEFAULT_TYPES = frozenset({
    b"text/html", b"text/plain", b"text/css", b"text/csv", b"text/xml", b"text/javascript",
    b"application/json", b"application/javascript", b"application/xml", b"application/xhtml+xml",
    b"application/rss+xml", b"application/atom+xml", b"application/ld+json", b"application/wasm",
    b"image/svg+xml",
})


@dataclass(frozen=True, slots=True)
class Compression:
    types: frozenset[bytes] = field(default=DEFAULT_TYPES)  # lower case, without parameters
    min_length: int = 1024  # a response with a smaller Content-Length is sent as it is
    level: int = 5  # zlib's 1 (fast) to 9 (small)
    brotli_quality: int = 4  # brotli's 0 (fast) to 11 (small), for clients that accept br
