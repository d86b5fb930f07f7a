"""Rewriting the path a route's server gets: strip or replace a prefix, or a regex.

Only the path changes; the query is kept as the client sent it. The client sees nothing of
it (this is not a redirect). A path that would no longer start with ``/`` gets one in front
(``/api`` stripped from ``/api`` is ``/``), so the request line stays valid whatever the
config does. Paths are bytes as the request line carries them, percent-encoding included.
"""

from __future__ import annotations

import re


class PathRewrite:
    """Strip or replace a prefix: paths starting with ``prefix`` get ``to`` instead of it
    (``to`` empty: stripped). Others pass unchanged."""

    __slots__ = ("prefix", "to")

    def __init__(self, prefix: bytes, to: bytes = b"") -> None:
        self.prefix = prefix
        self.to = to

    def path(self, path: bytes) -> bytes:
        if not path.startswith(self.prefix):
            return path
        return self.to + path[len(self.prefix):]


class RegexPathRewrite(PathRewrite):
    """The first match of ``pattern`` in the path is replaced (``\\1`` for groups), as by
    Python's ``re.sub`` with count 1; anchor it (``^...$``) to rewrite the whole path."""

    __slots__ = ("pattern", "replacement")

    def __init__(self, pattern: bytes, replacement: bytes) -> None:
        super().__init__(b"")
        self.pattern = re.compile(pattern)
        self.replacement = replacement

    def path(self, path: bytes) -> bytes:
        return self.pattern.sub(self.replacement, path, count=1)


def rewrite_target(rewrite: PathRewrite, target: bytes) -> bytes:
    """The request target with its path rewritten (origin form ``/p?q``, or absolute form
    ``http://host/p?q``, RFC 9112 3.2); ``*`` is left alone."""
    start = 0
    if target[:1] != b"/":
        scheme_end = target.find(b"://")
        if scheme_end < 0:
            return target  # asterisk form (OPTIONS *): no path
        start = target.find(b"/", scheme_end + 3)
        if start < 0:
            query = target.find(b"?", scheme_end + 3)
            start = len(target) if query < 0 else query
    end = target.find(b"?", start)
    if end < 0:
        end = len(target)
    path = rewrite.path(target[start:end] or b"/")
    if path[:1] != b"/":
        path = b"/" + path
    return target[:start] + path + target[end:]
