"""The key a ``hash`` pool balances on, read from a request: a header, a cookie, a query
parameter or the path (NGINX's ``hash $cookie_sid``, HAProxy's ``balance hdr()``/``url_param``).

A request without the key gets ``None``; the algorithm then spreads such requests evenly.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

HEADER, COOKIE, QUERY, PATH = "header", "cookie", "query", "path"


def read_hash_key(source: tuple[str, str], url: bytes, headers: list[bytes]) -> str | None:
    """``source`` is (kind, name); ``headers`` are field lines ``b"Name: value\\r\\n"``."""
    kind, name = source
    if kind == PATH:
        return url.split(b"?", 1)[0].decode("latin-1")
    if kind == QUERY:
        query = url.partition(b"?")[2]
        wanted = name.encode()
        for pair in query.split(b"&"):
            key, _, value = pair.partition(b"=")
            if unquote_to_bytes(key) == wanted:
                return unquote_to_bytes(value).decode("latin-1")
        return None
    if kind == COOKIE:
        wanted = name.encode()
        for cookie_line in _values(headers, b"cookie"):
            for pair in cookie_line.split(b";"):
                key, _, value = pair.strip().partition(b"=")
                if key == wanted:
                    return value.decode("latin-1")
        return None
    values = _values(headers, name.lower().encode())
    return b", ".join(values).decode("latin-1") if values else None


def _values(headers: list[bytes], lower_name: bytes) -> list[bytes]:
    prefix_length = len(lower_name) + 1
    return [line[prefix_length:].strip() for line in headers
            if line[:prefix_length].lower() == lower_name + b":"]
