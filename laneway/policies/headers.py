"""Adding, setting and removing a route's request and response headers.

The order is NGINX's, HAProxy's and Envoy's: ``remove`` drops every line of its names,
``set`` drops every line of its names and writes one, ``add`` appends a line whatever is
there. Names are compared in lower case (RFC 9110 5.1); the names laneway writes itself
(framing, hop-by-hop, X-Forwarded-*) are refused by the config, so an edit cannot break a
message's framing.
"""

from __future__ import annotations

from collections.abc import Iterable

from laneway.policies.variables import Template, Values


class HeaderEdit:
    __slots__ = ("dropped", "host", "written")

    def __init__(self, *, add: Iterable[tuple[str, Template]] = (), set: Iterable[tuple[str, Template]] = (),
                 remove: Iterable[str] = ()) -> None:
        set_ = list(set)
        # Host is written by the proxy itself on requests: setting it replaces its value.
        self.host = next((template for name, template in set_ if name.lower() == "host"), None)
        set_ = [(name, template) for name, template in set_ if name.lower() != "host"]
        self.dropped = frozenset(name.lower().encode() for name in [*remove, *(name for name, _ in set_)])
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
        dropped = self.dropped
        if dropped and fields:
            lines = fields.split(b"\r\n")  # lines[0] is the empty text before the first CRLF
            fields = b"\r\n".join([line for line in lines if line[:line.find(b":")].lower() not in dropped])
        if not self.written:
            return fields
        return fields + b"".join([b"\r\n%s: %s" % (name, template.render(values))
                                  for name, template in self.written])
