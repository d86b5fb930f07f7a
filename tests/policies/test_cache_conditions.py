"""Preconditions evaluated against a stored response (RFC 9110 13.2.2)."""

from __future__ import annotations

import pytest

from laneway.policies.cache.conditions import evaluate, split_conditions

STORED = b'\r\nETag: "v1"\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT'
WEAK = b'\r\nETag: W/"v1"'
EARLIER, SAME, LATER = ("Tue, 14 Nov 2023 22:00:00 GMT", "Tue, 14 Nov 2023 22:13:20 GMT",
                        "Tue, 14 Nov 2023 23:00:00 GMT")


def lines(*fields: str) -> list[bytes]:
    return [f"{field}\r\n".encode() for field in fields]


@pytest.mark.parametrize(("fields", "conditions", "expected"), [
    (STORED, [], 200),
    (STORED, ['If-None-Match: "v1"'], 304),
    (STORED, ['If-None-Match: "v0", W/"v1"'], 304),  # weak comparison
    (WEAK, ['If-None-Match: "v1"'], 304),
    (STORED, ['If-None-Match: "v2"'], 200),
    (STORED, ["If-None-Match: *"], 304),
    (b"", ['If-None-Match: "v1"'], 200),  # no ETag stored
    (STORED, [f"If-Modified-Since: {SAME}"], 304),
    (STORED, [f"If-Modified-Since: {LATER}"], 304),
    (STORED, [f"If-Modified-Since: {EARLIER}"], 200),
    (STORED, ["If-Modified-Since: yesterday"], 200),  # unreadable: ignored
    (STORED, ['If-None-Match: "v2"', f"If-Modified-Since: {LATER}"], 200),  # If-None-Match decides
    (STORED, ['If-Match: "v1"'], 200),
    (STORED, ['If-Match: "v2"'], 412),
    (WEAK, ['If-Match: W/"v1"'], 412),  # If-Match compares strongly
    (STORED, ["If-Match: *"], 200),
    (STORED, [f"If-Unmodified-Since: {EARLIER}"], 412),
    (STORED, [f"If-Unmodified-Since: {LATER}"], 200),
    (STORED, ['If-Match: "v1"', 'If-None-Match: "v1"'], 304),
])
def test_evaluate(fields: bytes, conditions: list[str], expected: int) -> None:
    assert evaluate(200, fields, lines(*conditions)) == expected


def test_only_a_200_is_conditional() -> None:
    assert evaluate(404, STORED, lines('If-None-Match: "v1"')) == 404


def test_split_conditions() -> None:
    kept, conditions = split_conditions(lines("Accept: */*", 'if-none-match: "v1"',
                                              f"If-Modified-Since: {SAME}", 'If-Match: "a"',
                                              f"If-Unmodified-Since: {SAME}", "X-If: 1"))
    assert kept == lines("Accept: */*", "X-If: 1")
    assert len(conditions) == 4
