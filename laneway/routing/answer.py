"""A route that laneway answers itself (NGINX's ``return``): a fixed response or a redirect.

No server is asked. The client connection writes the answer in its turn among pipelined
requests and keeps the connection open, as for any other response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from laneway.policies.targets import absolute_form
from laneway.policies.variables import Template, request_values

# A Host header's value that may go into a Location header: a name or an IP literal, with an
# optional port (RFC 3986 3.2.2, without percent-encoding, which no real Host uses).
VALID_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class Answer:
    """``status`` with ``body``, or a redirect when ``location`` is given. ``headers``: extra
    response header lines, each ending in CRLF."""

    status: int
    body: bytes = b""
    content_type: bytes = b"text/plain; charset=utf-8"
    headers: bytes = b""
    location: Template | None = None

    def location_for(self, scheme: bytes, host: bytes, target: bytes) -> bytes | None:
        """The redirect's location for a request for ``target`` on ``host`` (the Host
        header's value); None when the location needs the host and it is not one."""
        assert self.location is not None
        host, target = absolute_form(target, host)  # RFC 9112 3.2.2: the target's host, if it has one
        if self.location.uses("host") and VALID_HOST.fullmatch(host) is None:
            return None
        return self.location.render(request_values(b"", None, host, scheme, target))
