"""RFC 9111 freshness: what a shared cache may store, and for how long."""

from __future__ import annotations

import pytest

from laneway.policies.cache.freshness import decide, directives

WALL = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
DATE = b"Tue, 14 Nov 2023 22:13:20 GMT"


def fields(*lines: str) -> bytes:
    return b"".join(b"\r\n" + line.encode() for line in lines)


def verdict(*lines: str, status: int = 200, authorized: bool = False,
            valid: dict[int, float] | None = None) -> tuple[float, int] | None:
    found = decide(status, fields(*lines), authorized=authorized, valid=valid or {}, wall_clock=WALL)
    return None if found is None else (found[0], found[1])


def test_directives_are_read_with_quotes_spaces_and_case() -> None:
    assert directives(b'max-age=60, private="set-cookie" ,no-cache') == {
        b"max-age": b"60", b"private": b"set-cookie", b"no-cache": b""}


@pytest.mark.parametrize(("lines", "expected"), [
    (["Cache-Control: max-age=60"], (60, 0)),
    (["Cache-Control: max-age=60, s-maxage=10"], (10, 0)),  # a shared cache's own comes first
    (["cache-control: public", "Cache-Control: max-age=30"], (30, 0)),  # two fields make one list
    (["Cache-Control: max-age=60", "Age: 20"], (60, 20)),
    ([f"Date: {DATE.decode()}", "Expires: Tue, 14 Nov 2023 22:14:20 GMT"], (60, 0)),
    (["Expires: Tue, 14 Nov 2023 22:15:20 GMT"], (120, 0)),  # no Date: laneway's clock
    (["Cache-Control: max-age=60", "Expires: Thu, 01 Jan 1970 00:00:00 GMT"], (60, 0)),  # max-age wins
])
def test_freshness_lifetime(lines: list[str], expected: tuple[float, int]) -> None:
    assert verdict(*lines) == expected


@pytest.mark.parametrize(("lines", "why"), [
    (["Cache-Control: no-store, max-age=60"], "no-store"),
    (["Cache-Control: private, max-age=60"], "private: for one user, and laneway is shared"),
    (["Cache-Control: no-cache, max-age=60"], "no-cache needs revalidation, which laneway does not do"),
    (["Cache-Control: max-age=60", "Set-Cookie: sid=1"], "sets a cookie"),
    (["Cache-Control: max-age=60", "Vary: *"], "Vary: * matches no later request"),
    (["Cache-Control: max-age=0"], "stale at once"),
    (["Cache-Control: max-age=60", "Age: 60"], "stale on arrival"),
    (["Cache-Control: max-age=soon"], "an invalid max-age is stale"),
    (["Expires: 0"], "an invalid Expires means expired"),
    ([f"Date: {DATE.decode()}", "Expires: Tue, 14 Nov 2023 22:13:20 GMT"], "expires at its date"),
    ([], "no freshness and no default"),
])
def test_not_stored(lines: list[str], why: str) -> None:
    assert verdict(*lines, valid={404: 60}) is None, why


def test_valid_applies_only_without_freshness_from_the_server() -> None:
    assert verdict(valid={200: 600}) == (600, 0)
    assert verdict(status=404, valid={200: 600, 404: 60}) == (60, 0)
    assert verdict(status=301, valid={200: 600}) is None
    assert verdict(status=301, valid={0: 5}) == (5, 0)  # 0: any status
    assert verdict("Cache-Control: max-age=7", valid={200: 600}) == (7, 0)


@pytest.mark.parametrize("status", [206, 304, 500, 503, 201])
def test_statuses_laneway_does_not_cache(status: int) -> None:
    assert verdict("Cache-Control: max-age=60", status=status, valid={0: 60}) is None


def test_an_authorized_request_is_stored_only_if_the_response_allows_sharing() -> None:
    assert verdict("Cache-Control: max-age=60", authorized=True) is None
    assert verdict("Cache-Control: max-age=60", authorized=True, valid={200: 5}) is None
    assert verdict("Cache-Control: public, max-age=60", authorized=True) == (60, 0)
    assert verdict("Cache-Control: s-maxage=60", authorized=True) == (60, 0)
    assert verdict("Cache-Control: must-revalidate, max-age=60", authorized=True) == (60, 0)


def test_vary_names_come_back() -> None:
    found = decide(200, fields("Cache-Control: max-age=1", "Vary: Accept-Language, accept-encoding"),
                   authorized=False, valid={}, wall_clock=WALL)
    assert found is not None and found[2] == [b"accept-language", b"accept-encoding"]
