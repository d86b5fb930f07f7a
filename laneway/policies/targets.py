"""Request targets in absolute form (``GET http://host/path?q``, RFC 9112 3.2.2)."""

from __future__ import annotations


def absolute_form(url: bytes, host: bytes) -> tuple[bytes, bytes]:
    """``http://host/path?q`` -> (``host``, ``/path?q``); any other target -> (``host``,
    ``url``) unchanged. A server must take the host of a request in absolute form from the
    target, not from Host (RFC 9112 3.2.2), so routes, variables and redirects do too."""
    scheme_end = url.find(b"://")
    if scheme_end < 0:
        return host, url
    rest = url[scheme_end + 3:]
    cut = len(rest)
    for separator in (b"/", b"?"):
        found = rest.find(separator)
        if 0 <= found < cut:
            cut = found
    authority = rest[:cut].rpartition(b"@")[2]  # no userinfo (RFC 9110 4.2.4 forbids it anyway)
    target = rest[cut:]
    if not target.startswith(b"/"):
        target = b"/" + target
    return authority, target
