"""Reading a server's response head in one pass instead of one callback per header.

llhttp has already checked the head (tokens, values, no obs-fold, no bare CR or LF, at most
one Content-Length, no Content-Length beside Transfer-Encoding); this module only needs the
few fields laneway acts on, and the rest as one block to copy through.

Two versions do the same: ``read_response_head_python``, where one regular expression finds
those fields, and its C twin in ``_fields.c``, built by ``pip install .`` (setup.py). The
Python version costs about 2 microseconds per response, a tenth of laneway's whole work for
a small proxied request; the C one about 0.15. No library splits a head this way (llhttp
hands over headers one callback at a time, which costs more still), hence the C.
A test checks the two agree on every head Hypothesis makes. The C version leaves to the
Python one a Connection header that names other fields to drop, a Transfer-Encoding other
than chunked (which the Python one refuses with ValueError), and a head it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A field line that laneway reads or drops: hop-by-hop (RFC 9110 7.6.1) and Content-Length.
# Each field line in the block starts with CRLF; llhttp allows no space before the colon.
# It runs over a lower-cased copy of the fields (same length, so the spans hold for the
# original too): that is twice as fast as a case-insensitive pattern.
_SPECIAL_FIELD = re.compile(
    rb"\r\n(connection|keep-alive|te|trailer|transfer-encoding|upgrade|proxy-connection"
    rb"|proxy-authenticate|proxy-authorization|content-length):([^\r]*)"
)
_FIELD_NAME = re.compile(rb"\r\n([^:]+):")
# Connection header values that name no other header.
_NOTHING_NAMED = frozenset({b"close", b"keep-alive", b"upgrade", b""})


# (fields to copy through, each preceded by CRLF, no final CRLF; Content-Length value or None;
# whether the body is chunked; Upgrade value or None). A plain
# tuple: building a NamedTuple costs more than everything else here but the pattern.
ResponseHead = tuple[bytes, bytes | None, bool, bytes | None]


def c_twin() -> Callable[[bytes], ResponseHead | None] | None:
    """The C version, or None in a pure Python install (editable, LANEWAY_PURE_PYTHON=1, or
    no compiler)."""
    try:
        from laneway.http._fields import read_response_head as read
    except ImportError:
        return None
    return read


READ_IN_C = c_twin()


def read_response_head(head: bytes) -> ResponseHead:
    """``head`` is the whole head from the status line up to and including CRLF CRLF."""
    if READ_IN_C is not None:
        read = READ_IN_C(head)
        if read is not None:
            return read
    return read_response_head_python(head)


def read_response_head_python(head: bytes) -> ResponseHead:
    """``read_response_head`` in Python: one regular expression finds the fields it reads."""
    fields = head[head.find(b"\r\n"):-4]
    content_length = upgrade = None
    chunked = False
    named: set[bytes] | None = None
    kept: list[bytes] = []
    position = 0
    for match in _SPECIAL_FIELD.finditer(fields.lower()):
        start, end = match.span()
        kept.append(fields[position:start])
        position = end
        name, value = match.groups()  # lower-cased: fine for all but Upgrade
        if name == b"content-length":
            content_length = value.strip(b" \t")
        elif name == b"connection":
            value = value.strip(b" \t")
            if value not in _NOTHING_NAMED:
                tokens = {token.strip() for token in value.split(b",")} - _NOTHING_NAMED
                if tokens:
                    named = tokens if named is None else named | tokens
        elif name == b"transfer-encoding":
            # Only chunked, alone and once (as NGINX): laneway decodes no other transfer
            # coding, and a body sent on in one the client is not told of is corrupt. No
            # tab either: llhttp would not strip it, and would read the body until close.
            if chunked or value.strip(b" ") != b"chunked":
                raise ValueError("Transfer-Encoding other than chunked alone; laneway forwards no other")
            chunked = True
        elif name == b"upgrade":
            upgrade = fields[match.start(2):end].strip(b" \t")
    if position:
        kept.append(fields[position:])
        fields = b"".join(kept)
    if named:
        fields = _without(fields, named)
    return fields, content_length, chunked, upgrade


def _without(fields: bytes, names: set[bytes]) -> bytes:
    """Drop the fields a Connection header names (RFC 9110 7.6.1)."""
    lines = fields.split(b"\r\n")
    return b"\r\n".join(line for line in lines if line.split(b":", 1)[0].lower() not in names)


def field_names(fields: bytes) -> list[bytes]:
    """The names in a block of fields, in lower case (for tests and logs)."""
    return [match.group(1).lower() for match in _FIELD_NAME.finditer(fields)]
