"""Adding, setting and removing a route's request and response headers.

The order is NGINX's, HAProxy's and Envoy's: ``remove`` drops every line of its names,
``set`` drops every line of its names and writes one, ``add`` appends a line whatever is
there. Names are compared in lower case (RFC 9110 5.1); the names laneway writes itself
(framing, hop-by-hop, X-Forwarded-*) are refused by the config, so an edit cannot break a
message's framing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from laneway.policies.variables import Template, Values


class HeaderEdit:
    __slots__ = ("dropped", "dropped_fields", "host", "written")

    def __init__(self, *, add: Iterable[tuple[str, Template]] = (), set: Iterable[tuple[str, Template]] = (),
                 remove: Iterable[str] = ()) -> None:
        set_ = list(set)
        # Host is written by the proxy itself on requests: setting it replaces its value.
        self.host = next((template for name, template in set_ if name.lower() == "host"), None)
        set_ = [(name, template) for name, template in set_ if name.lower() != "host"]
        self.dropped = frozenset(name.lower().encode() for name in [*remove, *(name for name, _ in set_)])
        # The same names as one pattern over a response's field block: one C call per response
        # instead of a Python test per line.
        self.dropped_fields = re.compile(
            rb"\r\n(?:%s):[^\r]*" % b"|".join(re.escape(name) for name in sorted(self.dropped)),
            re.IGNORECASE) if self.dropped else None
        self.written = tuple((name.encode(), template) for name, template in [*set_, *add])

    def request_lines(self, headers: list[bytes], values: Values) -> list[bytes]:
        """``headers`` as the client connection keeps them: ``Name: value\\r\\n`` each."""
        dropped = self.dropped
        if dropped:
            headers = [line for line in headers if line[:line.find(b":")].lower() not in dropped]
        else:
            headers = list(headers)
        for name, template in self.written:
            headers.append(b"%s: %s\r\n" % (name, template.render(values)))
        return headers

    def response_fields(self, fields: bytes, values: Values) -> bytes:
        """``fields`` as a response head is copied through: each line after a CRLF."""
        if self.dropped_fields is not None:
            fields = self.dropped_fields.sub(b"", fields)
        if not self.written:
            return fields
        return fields + b"".join([b"\r\n%s: %s" % (name, template.render(values))
                                  for name, template in self.written])
