"""Cookie persistence through a running laneway: the cookie keeps a client on its server
while others go round robin; forged cookies are ignored; when the server may no longer take
the client (down, ejected, breaker open, maintenance, removed) the pool picks another and
a new cookie says so; a drained server keeps its clients; a retry re-pins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.config import parse_config
from laneway.http import HttpListener
from laneway.policies import CookiePersistence, Guard
from laneway.runtime.server import Runtime
from laneway.upstream import Pool, Server
from tests.routing.support import request
from tests.support.balancer import Balancer, make_config, wait_for
from tests.support.loop_thread import LoopThread
from tests.tls.support import Pki

COOKIE = "laneway_server"
ROUTE = {"pool": "p", "persistence": {"cookie": True}}


def persisted(balancer: Callable[..., Balancer], backends: int = 3, *, pool_limits: bool = False,
              **route: Any) -> Balancer:
    pool: dict[str, Any] = {"algorithm": "round_robin"}
    if pool_limits:
        pool["limits"] = {"max_requests": 1}
    return balancer(backends, routes=[{**ROUTE, **route}], pool=pool)


def fresh(running: Balancer, cookie: str | None = None, path: str = "/") -> httpx.Response:
    """One GET on its own connection, carrying ``cookie`` (``name=value``) when given."""
    headers = {"Cookie": cookie} if cookie is not None else {}
    with running.client() as client:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response


def pin(response: httpx.Response) -> str:
    """The ``name=value`` of the persistence cookie a response sets."""
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}="), set_cookie
    return set_cookie.split(";", 1)[0]


def pool_and_server(running: Balancer, backend_name: str) -> tuple[Pool, Server]:
    pool = running.runtime.pools["p"]
    backend = next(b for b in running.backends if b.name == backend_name)
    server = pool.server(f"{backend.address[0]}:{backend.address[1]}")
    assert server is not None
    return pool, server


def test_the_cookie_pins_a_client_while_others_go_round_robin(balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    pinned: Counter[str] = Counter()
    others: Counter[str] = Counter()
    with running.client() as client:
        for _ in range(30):
            response = client.get("/", headers={"Cookie": f"theme=dark; {cookie}; lang=en"})
            assert "set-cookie" not in response.headers, "set only when missing or changed"
            pinned[response.headers["x-backend"]] += 1
            newcomer = fresh(running)
            others[newcomer.headers["x-backend"]] += 1
            assert pin(newcomer), "every client without the cookie is given one"
    assert pinned == {home: 30}
    assert others == {"backend0": 10, "backend1": 10, "backend2": 10}, "round robin for the rest"
    # indirect: the server never sees laneway's cookie; the client's own cookies go through.
    cookies = [request.header("cookie") for request in running.backends[int(home[-1])].requests]
    assert "theme=dark; lang=en" in cookies
    assert all(COOKIE not in (value or "") for value in cookies)


def test_the_cookie_is_opaque_and_marked_for_browsers_and_caches(balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer, persistence={"cookie": {"name": "srv", "max_age": "2h", "path": "/shop/",
                                                          "domain": "example.com"}})
    response = fresh(running)
    set_cookie = response.headers["set-cookie"]
    name, _, rest = set_cookie.partition("=")
    value, _, attributes = rest.partition(";")
    assert name == "srv"
    assert attributes.strip().split("; ") == ["Path=/shop/", "Domain=example.com", "Max-Age=7200", "HttpOnly",
                                              "SameSite=Lax"], "no Secure on a plain listener"
    values = {pin_value(fresh(running), "srv") for _ in range(6)} | {value}
    assert len(values) == 3, "one value per server"
    for backend in running.backends:
        host, port = backend.address
        assert all(str(port) not in v and host not in v for v in values), "the address is not in it"
    assert response.headers["cache-control"] == "private", "a shared cache must not keep it (nocache)"


def pin_value(response: httpx.Response, name: str) -> str:
    return response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]


@pytest.mark.parametrize("forged", ["", "x", "backend0", "127.0.0.1", "AAAAAAAAAAAAAAAAAAAAAA", "a" * 5000])
def test_a_forged_cookie_is_ignored_and_replaced(balancer: Callable[..., Balancer], forged: str) -> None:
    running = persisted(balancer)
    valid = {fresh(running).headers["set-cookie"].split(";", 1)[0] for _ in range(3)}
    response = fresh(running, f"{COOKIE}={forged}")
    assert pin(response) in valid, "placed afresh and told its real server"


def test_a_cookie_signed_with_another_secret_is_ignored(balancer: Callable[..., Balancer]) -> None:
    other = persisted(balancer, persistence={"cookie": {"secret": "another-instance-secret"}})
    running = persisted(balancer, persistence={"cookie": {"secret": "this-instance-secret-0"}})
    foreign = pin(fresh(other))
    assert pin(fresh(running, foreign)) != foreign


def test_instances_sharing_a_secret_honour_each_others_cookies(balancer: Callable[..., Balancer]) -> None:
    # Two laneways in front of the same three servers, with one secret.
    one = persisted(balancer, persistence={"cookie": {"secret": "shared-secret-0123456789"}})
    pool = one.runtime.pools["p"]
    addresses = [server.key for server in pool.servers]
    two = balancer(0, servers=addresses, routes=[{**ROUTE, "persistence": {"cookie": {
        "secret": "shared-secret-0123456789"}}}], pool={"algorithm": "round_robin"})
    for _ in range(3):
        first = fresh(one)
        again = fresh(two, pin(first))
        assert again.headers["x-backend"] == first.headers["x-backend"]
        assert "set-cookie" not in again.headers


@pytest.mark.parametrize("take_out", ["down", "ejected", "breaker_open", "maintenance", "removed"])
def test_when_the_server_cannot_take_traffic_the_client_moves_and_gets_a_new_cookie(
        balancer: Callable[..., Balancer], take_out: str) -> None:
    running = persisted(balancer)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    pool, server = pool_and_server(running, home)
    change: dict[str, Callable[[], None]] = {
        "down": lambda: pool.set_up(server, False),
        "ejected": lambda: pool.set_ejected(server, True),
        "breaker_open": lambda: pool.set_breaker(server, "open"),
        "maintenance": lambda: pool.set_state(server, "maintenance"),
        "removed": lambda: running.runtime.remove_server("p", server),
    }
    running.call(change[take_out])
    moved = fresh(running, cookie)
    assert moved.headers["x-backend"] != home
    new_cookie = pin(moved)
    assert new_cookie != cookie
    # The new cookie pins the client to its new server.
    for _ in range(5):
        again = fresh(running, new_cookie)
        assert again.headers["x-backend"] == moved.headers["x-backend"]
        assert "set-cookie" not in again.headers


def test_a_server_back_up_gets_its_pinned_clients_again(balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    pool, server = pool_and_server(running, home)
    running.call(pool.set_up, server, False)
    running.call(pool.set_up, server, True)
    again = fresh(running, cookie)
    assert again.headers["x-backend"] == home and "set-cookie" not in again.headers


def test_a_drained_server_keeps_its_pinned_clients_and_gets_no_new_ones(
        balancer: Callable[..., Balancer]) -> None:
    # HAProxy: drain "only removes the server from load balancing but still allows it ... to
    # accept new persistent connections".
    running = persisted(balancer)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    pool, server = pool_and_server(running, home)
    running.call(pool.set_state, server, "drain")
    for _ in range(10):
        again = fresh(running, cookie)
        assert again.headers["x-backend"] == home and "set-cookie" not in again.headers
    newcomers = {fresh(running).headers["x-backend"] for _ in range(10)}
    assert home not in newcomers and len(newcomers) == 2


def test_a_retry_goes_elsewhere_and_re_pins(balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    dead = next(b for b in running.backends if b.name == home)
    running.loop.run(dead.stop())  # refuses connections; no health check has noticed
    response = fresh(running, cookie)
    assert response.headers["x-backend"] != home, "the retry went to another server"
    moved = pin(response)
    assert moved != cookie, "and the cookie now names the server that answered"
    assert fresh(running, moved).headers["x-backend"] == response.headers["x-backend"]


def test_a_server_at_its_cap_lends_its_client_out_once_and_keeps_it(
        balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer, 2, pool_limits=True)
    first = fresh(running)
    cookie, home = pin(first), first.headers["x-backend"]
    backend = next(b for b in running.backends if b.name == home)
    with ThreadPoolExecutor(1) as executor:
        held = executor.submit(fresh, running, cookie, "/?hold=1")  # its one request slot taken
        wait_for(lambda: backend.holding, message="the pinned server holding a request")
        lent = fresh(running, cookie)
        assert lent.headers["x-backend"] != home, "at its cap: elsewhere this once"
        assert "set-cookie" not in lent.headers, "still pinned: the server is well, only busy"
        backend.release()
        assert held.result(timeout=10).headers["x-backend"] == home
    assert fresh(running, cookie).headers["x-backend"] == home


def test_a_split_route_pins_per_pool(balancer: Callable[..., Balancer]) -> None:
    # Pools a (backends 0, 1) and b (backends 2, 3); the split's sticky cookie keeps the arm,
    # the persistence cookie the server within it.
    running = balancer(4, pools_of_backends={"p": [0], "a": [0, 1], "b": [2, 3]}, routes=[{
        "split": [{"pool": "a", "weight": 1}, {"pool": "b", "weight": 1}], "sticky": {"cookie": "lw_arm"},
        "persistence": {"cookie": True}}])
    homes = set()
    for _ in range(4):
        with running.client() as client:
            first = client.get("/")
            assert {c.split("=", 1)[0] for c in first.headers.get_list("set-cookie")} == {"lw_arm", COOKIE}
            home = first.headers["x-backend"]
            homes.add(home)
            for _ in range(10):
                response = client.get("/")  # httpx sends both cookies back
                assert response.headers["x-backend"] == home
                assert "set-cookie" not in response.headers
    assert homes == {"backend0", "backend1", "backend2", "backend3"}


def route_target(running: Balancer, path: str) -> object:
    listener = running.runtime.listeners[0]
    assert isinstance(listener, HttpListener)
    return listener.router.route(b"h", path.encode(), b"GET", request())


def test_routes_without_persistence_set_no_cookie_and_carry_no_policy(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, routes=[{"match": {"path_prefix": "/shop/"}, **ROUTE}, {"pool": "p"}])
    assert "set-cookie" not in fresh(running, path="/other").headers
    assert "set-cookie" in fresh(running, path="/shop/cart").headers
    assert isinstance(route_target(running, "/other"), Pool), "no Guard: nothing more per request"
    guard = route_target(running, "/shop/cart")
    assert isinstance(guard, Guard) and isinstance(guard.persistence, CookiePersistence)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def test_over_tls_the_cookie_is_secure(balancer: Callable[..., Balancer], pki: Pki) -> None:
    tls = {"certificates": [pki.pair("localhost", "127.0.0.1")]}
    running = balancer(2, routes=[ROUTE], listener={"tls": tls})
    url = f"https://127.0.0.1:{running.address[1]}/"
    with httpx.Client(verify=pki.client_context(), trust_env=False, timeout=10.0) as client:
        first = client.get(url)
        assert first.headers["set-cookie"].endswith("; HttpOnly; SameSite=Lax; Secure")
        again = client.get(url)  # httpx sends a Secure cookie back over HTTPS
    assert again.headers["x-backend"] == first.headers["x-backend"] and "set-cookie" not in again.headers


def test_cookies_stay_valid_across_a_reload(balancer: Callable[..., Balancer]) -> None:
    running = persisted(balancer)
    given = {}
    for _ in range(3):
        response = fresh(running)
        given[response.headers["x-backend"]] = pin(response)
    addresses = [f"{b.address[0]}:{b.address[1]}" for b in running.backends]
    config = make_config(list(reversed(addresses)), routes=[ROUTE], pool={"algorithm": "least_connections"})
    running.loop.run(running.runtime.reload(parse_config(config)))
    for home, cookie in given.items():
        again = fresh(running, cookie)
        assert again.headers["x-backend"] == home and "set-cookie" not in again.headers


def test_a_secret_env_that_is_not_set_stops_laneway_before_it_listens(
        loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LW_TEST_COOKIE_SECRET", raising=False)
    config = parse_config(make_config(["127.0.0.1:9"], routes=[
        {"pool": "p", "persistence": {"cookie": {"secret_env": "LW_TEST_COOKIE_SECRET"}}}]))
    runtime = Runtime(config)
    with pytest.raises(ValueError, match=r"listeners\[0\]\.routes\[0\]\.persistence\.cookie\.secret_env: "
                                         "the environment variable LW_TEST_COOKIE_SECRET is not set"):
        loop_thread.run(runtime.start())
    assert runtime.listeners == [] and runtime.listener_addresses == {}
    monkeypatch.setenv("LW_TEST_COOKIE_SECRET", "set-now-0123456789")
    loop_thread.run(runtime.start())
    try:
        assert runtime.listener_addresses
    finally:
        loop_thread.run(runtime.shutdown(grace=1.0))


def test_a_reload_naming_an_unset_secret_env_changes_nothing(balancer: Callable[..., Balancer],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LW_TEST_COOKIE_SECRET", raising=False)
    running = persisted(balancer)
    cookie = pin(fresh(running))
    addresses = [f"{b.address[0]}:{b.address[1]}" for b in running.backends]
    config = make_config(addresses, routes=[{"pool": "p", "persistence": {"cookie": {
        "secret_env": "LW_TEST_COOKIE_SECRET"}}}])
    with pytest.raises(ValueError, match="LW_TEST_COOKIE_SECRET is not set"):
        running.loop.run(running.runtime.reload(parse_config(config)))
    assert "set-cookie" not in fresh(running, cookie).headers, "the running config is untouched"
