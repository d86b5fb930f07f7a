"""A split route through a running laneway: 10,000 requests land within 1% of the weights,
and a client holding the sticky cookie stays on its arm."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection

# Backend 0 is pool web (also the pool p the helper makes), backend 1 pool web-v2.
POOLS = {"p": [0], "web": [0], "web-v2": [1]}
CANARY = {"split": [{"pool": "web-v2", "weight": 10}, {"pool": "web", "weight": 90}]}
ARM_OF = {"backend0": "web", "backend1": "web-v2"}


def send_requests(running: Balancer, count: int, *, cookie: str | None = None, batch: int = 100,
                  time_limit: float = 40.0) -> tuple[Counter[str], list[str]]:
    """``count`` GETs on one keep-alive connection, pipelined ``batch`` at a time; the arms
    that answered and every Set-Cookie laneway sent."""
    request = b"GET / HTTP/1.1\r\nHost: www.example\r\n%s\r\n" % (
        b"Cookie: %s\r\n" % cookie.encode() if cookie else b"")
    arms: Counter[str] = Counter()
    set_cookies: list[str] = []
    deadline = time.monotonic() + time_limit
    with RawConnection(running.address, timeout=10.0) as connection:
        sent = 0
        while sent < count:
            assert time.monotonic() < deadline, f"only {sent} of {count} requests in {time_limit}s"
            size = min(batch, count - sent)
            connection.send(request * size)
            for _ in range(size):
                response = connection.read_response()
                assert response.status == 200, response.body
                arms[ARM_OF[response.header("x-backend") or ""]] += 1
                set_cookies.extend(response.header_values("set-cookie"))
            sent += size
    return arms, set_cookies


def test_ten_thousand_requests_split_within_one_percent_of_the_weights(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pools_of_backends=POOLS, routes=[CANARY])
    arms, set_cookies = send_requests(running, 10_000)
    assert sum(arms.values()) == 10_000
    assert abs(arms["web-v2"] / 10_000 - 0.10) <= 0.01, arms
    assert abs(arms["web"] / 10_000 - 0.90) <= 0.01, arms
    assert set_cookies == [], "no stickiness was asked for"
    # The servers saw the same split (nothing answered by laneway itself).
    assert [len(backend.requests) for backend in running.backends] == [arms["web"], arms["web-v2"]]


def test_a_client_with_the_sticky_cookie_stays_on_its_arm(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pools_of_backends=POOLS, routes=[{**CANARY, "sticky": {"cookie": "lw_arm"}}])
    # New clients (no cookie) are split by weight; each answer names the client's arm.
    cookies: dict[str, str] = {}
    with running.client() as client:
        for _ in range(20):
            client.cookies.clear()
            response = client.get("/", headers={"Host": "www.example"})
            set_cookie = response.headers["set-cookie"]
            assert set_cookie.startswith("lw_arm=") and "; Path=/; HttpOnly; SameSite=Lax" in set_cookie
            cookies[ARM_OF[response.headers["x-backend"]]] = set_cookie.split(";", 1)[0]
    assert sorted(cookies) == ["web", "web-v2"]
    # With the cookie, every request goes to that arm, and no new cookie is set.
    for arm, cookie in cookies.items():
        arms, set_cookies = send_requests(running, 200, cookie=f"theme=dark; {cookie}", batch=50)
        assert arms == {arm: 200}
        assert set_cookies == []
    # A forged value is ignored: the client is split by weight and told its real arm.
    arms, set_cookies = send_requests(running, 100, cookie="lw_arm=web-v2", batch=50)
    assert arms == {"web": 90, "web-v2": 10}
    assert len(set_cookies) == 100 and all(c.split(";")[0] in cookies.values() for c in set_cookies)


def test_the_sticky_cookie_comes_beside_the_servers_own(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pools_of_backends=POOLS, routes=[{**CANARY, "sticky": {"cookie": "lw_arm"}}])
    with running.client() as client:
        response = client.get("/response-headers?h=Set-Cookie:sid=abc", headers={"Host": "www.example"})
    assert response.status_code == 200
    values = response.headers.get_list("set-cookie")
    assert values[0] == "sid=abc" and values[1].startswith("lw_arm="), values
