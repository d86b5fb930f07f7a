"""Config values with variables, filled in per request: ``"$client_ip via laneway"``.

The config checks the syntax and the names (``laneway.config.variables``) and hands over the
parts; a ``Template`` is made from them once, when the config is built, so that a request
only joins a few byte strings. A value without variables is kept as one byte string and
costs nothing to render.

The values come from a request laneway has already parsed strictly (no CR, LF or NUL in
the target or in a header), so whatever they hold cannot break a header line.
"""

from __future__ import annotations

from collections.abc import Sequence

from laneway.policies.targets import absolute_form

# Where each variable's value sits in a request's values (``request_values``).
INDEX = {"client_ip": 0, "request_id": 1, "host": 2, "scheme": 3, "request_uri": 4, "path": 5, "query": 6,
         "server": 7}

# client_ip, request_id, host, scheme, request_uri, path, query, server (b"" until a server answers).
Values = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]


def request_values(client_ip: bytes, request_id: bytes | None, host: bytes | None, scheme: bytes,
                   target: bytes) -> Values:
    """``target`` as the request line has it: in absolute form, its host is the host, and
    the rest the target (RFC 9112 3.2.2)."""
    if target[:1] != b"/":
        host, target = absolute_form(target, host or b"")
    path, _, query = target.partition(b"?")
    return (client_ip, request_id or b"", host_name(host or b""), scheme, target, path, query, b"")


def with_server(values: Values, server: bytes) -> Values:
    return (values[0], values[1], values[2], values[3], values[4], values[5], values[6], server)


def host_name(host: bytes) -> bytes:
    """A Host header's value as NGINX's ``$host``: lower case, without the port."""
    if host[:1] == b"[":  # an IPv6 literal, [::1]:8080
        end = host.find(b"]")
        return host[:end + 1].lower() if end > 0 else host.lower()
    return host.partition(b":")[0].lower()


class Template:
    __slots__ = ("literal", "parts")

    def __init__(self, parts: Sequence[tuple[bool, str]]) -> None:
        """``parts``: (True, variable name) or (False, literal text), as the config splits them."""
        self.parts: tuple[bytes | int, ...] = tuple(
            INDEX[text] if is_variable else text.encode() for is_variable, text in parts)
        only_text = all(isinstance(part, bytes) for part in self.parts)
        self.literal: bytes | None = b"".join(self.parts) if only_text else None  # type: ignore[arg-type]

    def uses(self, name: str) -> bool:
        """Whether the template holds the variable ``name``."""
        return INDEX[name] in self.parts

    def render(self, values: Values) -> bytes:
        if self.literal is not None:
            return self.literal
        return b"".join([values[part] if isinstance(part, int) else part for part in self.parts])
