"""Conditional requests answered from a stored response (RFC 9110 13.2.2, RFC 9111 4.3.2).

A request that may be answered from a store does not pass its preconditions on to the
server (as NGINX: "If caching is enabled, the header fields If-Modified-Since,
If-Unmodified-Since, If-None-Match, If-Match ... are not passed"), so that the server's
answer is a whole one that can be stored. laneway evaluates them itself against the stored
response, in the RFC's order:

1. ``If-Match`` (strong comparison with the ETag): false -> 412;
2. else ``If-Unmodified-Since`` (against Last-Modified): false -> 412;
3. ``If-None-Match`` (weak comparison): true for a listed tag -> 304;
4. else ``If-Modified-Since``: not modified since -> 304;
5. otherwise the stored response, 200 or whatever it is.

A precondition it cannot evaluate (no ETag, no Last-Modified, a date it cannot read) is
treated as the RFC says for each: If-Match and If-None-Match need an ETag; the date
conditions are ignored when a date is missing or unreadable.
"""

from __future__ import annotations

from laneway.policies.cache.freshness import http_date

CONDITIONS = (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since")

NOT_MODIFIED, PRECONDITION_FAILED = 304, 412


def split_conditions(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(request header lines without preconditions, the precondition lines)."""
    kept: list[bytes] = []
    conditions: list[bytes] = []
    for line in lines:
        name = line.split(b":", 1)[0].lower()
        (conditions if name in CONDITIONS else kept).append(line)
    return kept, conditions


def _values(conditions: list[bytes], name: bytes) -> bytes | None:
    found = [line.split(b":", 1)[1].strip() for line in conditions if line.split(b":", 1)[0].lower() == name]
    return b",".join(found) if found else None


def _field(fields: bytes, name: bytes) -> bytes | None:
    """A response field's value from a CRLF-led block (``name`` in lower case)."""
    for line in fields.split(b"\r\n"):
        head, sep, value = line.partition(b":")
        if sep and head.lower() == name:
            return value.strip(b" \t")
    return None


def _tags(value: bytes) -> list[bytes]:
    return [tag.strip(b" \t") for tag in value.split(b",") if tag.strip(b" \t")]


def _opaque(tag: bytes) -> bytes:
    return tag[2:] if tag.startswith(b"W/") else tag


def evaluate(status: int, fields: bytes, conditions: list[bytes]) -> int:
    """The status to answer with: ``status`` itself, 304 or 412."""
    if not conditions or status != 200:
        return status  # RFC 9110 13.2.1: preconditions apply to a 2xx selected representation
    etag = _field(fields, b"etag")
    if_match = _values(conditions, b"if-match")
    if if_match is not None:
        tags = _tags(if_match)
        strong = etag is not None and not etag.startswith(b"W/")
        if b"*" not in tags and not (strong and etag in tags):
            return PRECONDITION_FAILED
    else:
        unmodified = http_date(_values(conditions, b"if-unmodified-since"))
        modified = http_date(_field(fields, b"last-modified"))
        if unmodified is not None and modified is not None and modified > unmodified:
            return PRECONDITION_FAILED
    if_none_match = _values(conditions, b"if-none-match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        if b"*" in tags or (etag is not None and _opaque(etag) in {_opaque(tag) for tag in tags}):
            return NOT_MODIFIED
        return status
    since = http_date(_values(conditions, b"if-modified-since"))
    modified = http_date(_field(fields, b"last-modified"))
    if since is not None and modified is not None and modified <= since:
        return NOT_MODIFIED
    return status
