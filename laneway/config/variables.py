"""Variables in config values: the syntax, the names, and the error for a name that is not one.

A value such as ``"$client_ip via ${scheme}"`` is literal text with variables in it, as in
NGINX: ``$name`` or ``${name}`` (braces when letters follow, ``${host}x``), and ``$$`` for a
dollar sign. A ``$`` before anything else (``$5``, a final ``$``) is literal text. The
config checks the names when the file is read; ``laneway.policies.variables`` turns the
parts into a template that is filled in per request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# What each variable holds, for error messages and docs.
REQUEST_VARIABLES = {
    "client_ip": "the client's address",
    "request_id": "the request's id (the listener's request_id_header)",
    "host": "the host the client asked for, lower case, without the port (as NGINX's $host)",
    "scheme": "http or https",
    "request_uri": "the target as the client sent it, query included",
    "path": "the path as the client sent it, without the query",
    "query": "the query as the client sent it, without the '?'",
}
RESPONSE_VARIABLES = {**REQUEST_VARIABLES, "server": "the address of the server that answered"}

_TOKEN = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")

# (True, variable name) or (False, literal text), in order.
Part = tuple[bool, str]


def split_template(text: str, known: Sequence[str]) -> list[Part]:
    """``text`` in parts; a ValueError names an unknown variable and the known ones."""
    parts: list[Part] = []
    literal = ""
    position = 0
    for found in _TOKEN.finditer(text):
        literal += text[position:found.start()]
        position = found.end()
        if found.group(3):
            literal += "$"
            continue
        name = found.group(1) or found.group(2)
        if name not in known:
            names = ", ".join(f"${known_name}" for known_name in known)
            raise ValueError(f"unknown variable ${name} in {text!r}; known variables: {names} "
                             "(write $$ for a dollar sign)")
        if literal:
            parts.append((False, literal))
            literal = ""
        parts.append((True, name))
    literal += text[position:]
    if literal:
        parts.append((False, literal))
    return parts


def variables_in(text: str) -> set[str]:
    """The variable names ``text`` uses (known or not)."""
    return {found.group(1) or found.group(2) for found in _TOKEN.finditer(text) if not found.group(3)}
