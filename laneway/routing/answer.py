"""A route that laneway answers itself (NGINX's ``return``): a fixed response or a redirect.

No server is asked. The client connection writes the answer in its turn among pipelined
requests and keeps the connection open, as for any other response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A Host header's value that may go into a Location header: a name or an IP literal, with an
# optional port (RFC 3986 3.2.2, without percent-encoding, which no real Host uses).
VALID_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class Answer:
    """``status`` with ``body``, or a redirect when ``location`` is given (its parts from
    ``laneway.config.schema.split_location``). ``headers``: extra response header lines,
    each ending in CRLF."""

    status: int
    body: bytes = b""
    content_type: bytes = b"text/plain; charset=utf-8"
    headers: bytes = b""
    location: tuple[str, ...] | None = None

    def location_for(self, scheme: bytes, host: bytes, target: bytes) -> bytes | None:
        """The redirect's location for a request for ``target`` on ``host`` (the Host
        header's value); None when the location needs the host and it is not one."""
        assert self.location is not None
        path, _, query = target.partition(b"?")
        values = {"scheme": scheme, "host": b"", "request_uri": target, "path": path, "query": query}
        if "host" in self.location[1::2]:
            found = VALID_HOST.fullmatch(host)
            if found is None:
                return None
            values["host"] = found.group(1).lower()
        parts = self.location
        out = [parts[0].encode("latin-1")]
        for index in range(1, len(parts), 2):
            out.append(values[parts[index]])
            out.append(parts[index + 1].encode("latin-1"))
        return b"".join(out)
