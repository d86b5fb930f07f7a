"""The answer of a listener that sends every request to HTTPS (``redirect_to_https``).

The request has passed the same strict parsing as any other (a malformed one still gets its
400, and the close); it is then answered here, never by a server:
``https://<host>[:port]<path?query>``, on a connection kept open as for any answer of
laneway's own (NGINX's ``return 301`` does the same), so a client's next request to this
port costs no new connection.
The host goes into a header, so it must look like a host: a name or an IP literal, checked
rather than copied (RFC 3986 3.2.2, without percent-encoding, which no real Host uses).
"""

from __future__ import annotations

from dataclasses import dataclass

from laneway.http.errors import HttpError
from laneway.http.messages import error_body
from laneway.policies.targets import absolute_form
from laneway.routing.answer import VALID_HOST, Answer


@dataclass(frozen=True, slots=True)
class HttpsRedirect:
    port: int = 443
    status: int = 301


def https_redirect(redirect: HttpsRedirect, host: bytes | None, target: bytes) -> Answer:
    """The redirect for a request to ``host`` and ``target``; raises HttpError (400) when
    the request names no host or path that a redirect could be built from."""
    host, path = absolute_form(target, host or b"")  # RFC 9112 3.2.2: its authority replaces Host
    if not path.startswith(b"/"):
        raise HttpError(400, "cannot redirect this request target to HTTPS; send a path such as /")
    if not host:
        raise HttpError(400, "a redirect to HTTPS needs the Host header; add it")
    match = VALID_HOST.fullmatch(host)
    if match is None:
        raise HttpError(400, "the Host header is not a host name or address; cannot redirect to HTTPS")
    authority = match.group(1) if redirect.port == 443 else match.group(1) + b":%d" % redirect.port
    location = b"https://" + authority + path
    return Answer(redirect.status, error_body(redirect.status, f"see {location.decode('latin-1')}"),
                  headers=b"Location: " + location + b"\r\n")
