"""A split route: exact weighted shares, and the sticky cookie that keeps a client on its arm."""

from __future__ import annotations

from collections import Counter
from typing import Any

from laneway.routing import Split
from laneway.upstream import Pool
from tests.routing.support import make_router, request

SPLIT = {"split": [{"pool": "a", "weight": 10}, {"pool": "b", "weight": 90}]}


def split_of(route: dict[str, Any], *, secret: bytes | None = None) -> tuple[Split, dict[str, Pool]]:
    router, pools = make_router([route], secret=secret)
    target = router.route(b"h", b"/", b"GET", request())
    assert isinstance(target, Split)
    return target, pools


def cookie_value(set_cookie: bytes, name: str = "lw_arm") -> str:
    line = set_cookie.decode()
    assert line.startswith(f"\r\nSet-Cookie: {name}="), line
    return line.split("=", 1)[1].split(";", 1)[0]


def test_shares_are_exact_in_every_cycle_of_the_total_weight() -> None:
    split, _ = split_of(SPLIT)
    picks = [split.choose(request())[0].name for _ in range(10_000)]
    assert Counter(picks) == {"a": 1_000, "b": 9_000}
    assert all(Counter(picks[i:i + 100]) == {"a": 10, "b": 90} for i in range(0, 10_000, 100))
    assert "a" in picks[:10], "smooth: the small arm is not starved at the start"


def test_an_arm_of_weight_zero_gets_nothing() -> None:
    split, _ = split_of({"split": [{"pool": "a", "weight": 0}, {"pool": "b", "weight": 1}]})
    assert {split.choose(request())[0].name for _ in range(50)} == {"b"}


def test_without_sticky_no_cookie_is_set() -> None:
    split, _ = split_of(SPLIT)
    assert split.choose(request())[1] == b""


def test_a_sticky_cookie_keeps_the_client_on_its_arm() -> None:
    split, _ = split_of({**SPLIT, "sticky": {"cookie": "lw_arm", "max_age": "24h"}})
    given = {}
    for _ in range(10):
        pool, set_cookie = split.choose(request())
        assert b"; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400" in set_cookie
        given[pool.name] = cookie_value(set_cookie)
    assert sorted(given) == ["a", "b"]
    assert given["a"] != given["b"]
    for name, value in given.items():
        for _ in range(30):
            pool, set_cookie = split.choose(request({"Cookie": f"theme=dark; lw_arm={value}"}))
            assert (pool.name, set_cookie) == (name, b""), "honoured, and not set again"


def test_a_forged_or_foreign_cookie_is_ignored_and_replaced() -> None:
    split, _ = split_of({**SPLIT, "sticky": {"cookie": "lw_arm"}})
    other, _ = split_of({**SPLIT, "sticky": {"cookie": "lw_arm"}})  # another instance, its own secret
    _, set_cookie = other.choose(request())
    for forged in ("0", "a", "1", cookie_value(set_cookie), ""):
        _, set_cookie = split.choose(request({"Cookie": f"lw_arm={forged}"}))
        assert set_cookie, f"{forged!r} was honoured"
        assert cookie_value(set_cookie) in {arm.cookie.decode() for arm in split.arms}


def test_instances_sharing_a_secret_honour_each_others_cookies() -> None:
    route = {**SPLIT, "sticky": {"cookie": "lw_arm", "secret": "0123456789abcdef-shared"}}
    first, _ = split_of(route)
    second, _ = split_of(route)
    assert [arm.cookie for arm in first.arms] == [arm.cookie for arm in second.arms]
    # Reordering or re-weighting the arms keeps clients where they are: the cookie names the pool.
    reordered, _ = split_of({**route, "split": [{"pool": "b", "weight": 1}, {"pool": "a", "weight": 0}]})
    assert {arm.pool.name: arm.cookie for arm in reordered.arms} == {
        arm.pool.name: arm.cookie for arm in first.arms}


def test_an_arm_at_weight_zero_keeps_its_sticky_clients() -> None:
    route = {"split": [{"pool": "a", "weight": 0}, {"pool": "b", "weight": 1}],
             "sticky": {"cookie": "lw_arm", "secret": "0123456789abcdef-shared"}}
    split, _ = split_of(route)
    [arm_a] = [arm for arm in split.arms if arm.pool.name == "a"]
    pool, set_cookie = split.choose(request({"Cookie": f"lw_arm={arm_a.cookie.decode()}"}))
    assert (pool.name, set_cookie) == ("a", b"")


def test_a_client_whose_arm_has_no_server_up_is_moved() -> None:
    split, pools = split_of({**SPLIT, "sticky": {"cookie": "lw_arm"}})
    [arm_a] = [arm for arm in split.arms if arm.pool.name == "a"]
    pools["a"].set_up(pools["a"].servers[0], False)
    pool, set_cookie = split.choose(request({"Cookie": f"lw_arm={arm_a.cookie.decode()}"}))
    assert pool.name == "b" and cookie_value(set_cookie) != arm_a.cookie.decode()
