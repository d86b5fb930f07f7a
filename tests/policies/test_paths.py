"""Path rewrites on request targets in every form (RFC 9112 3.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.policies import PathRewrite, RegexPathRewrite
from laneway.policies.paths import rewrite_target

STRIP = PathRewrite(b"/api")


@pytest.mark.parametrize(("target", "expected"), [
    (b"/api/x?q=/api", b"/x?q=/api"),
    (b"/api", b"/"),
    (b"/api?", b"/?"),
    (b"/other", b"/other"),
    (b"*", b"*"),  # OPTIONS *: no path
    (b"http://h/api/x?q", b"http://h/x?q"),
    (b"http://h", b"http://h/"),
    (b"https://h?q", b"https://h/?q"),
])
def test_strip_in_every_target_form(target: bytes, expected: bytes) -> None:
    assert rewrite_target(STRIP, target) == expected


def test_regex_replaces_the_first_match_and_keeps_a_leading_slash() -> None:
    assert rewrite_target(RegexPathRewrite(rb"^/(\w+)/(\w+)", rb"\2/\1"), b"/a/b/c?x") == b"/b/a/c?x"


@given(st.from_regex(rb"\A/[a-z/]{0,20}(\?[a-z=&/]{0,10})?\Z"))
def test_a_rewritten_target_starts_with_a_slash_and_keeps_its_query(target: bytes) -> None:
    for rewrite in (STRIP, PathRewrite(b"/", b""), RegexPathRewrite(rb"[a-z]+", b"")):
        rewritten = rewrite_target(rewrite, target)
        assert rewritten.startswith(b"/")
        query = target.find(b"?")
        assert (rewritten.find(b"?") < 0) if query < 0 else rewritten.endswith(target[query:])
