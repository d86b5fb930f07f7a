"""Source-address persistence through a running laneway (HAProxy's stick table with
``stick on src``): clients on 127.0.0.2, .3, ... each stay on one server; an address not seen
for ``expire`` is forgotten (a fake clock moves, nothing sleeps); the table holds at most
``max_entries``; a server that cannot take traffic gives its clients up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from laneway.config import parse_config
from laneway.http import HttpListener
from laneway.policies import Guard, SourcePersistence
from tests.support.balancer import Balancer, make_config
from tests.support.fake_time import FakeTime


def sticky(balancer: Callable[..., Balancer], backends: int = 3,
           **source: Any) -> tuple[Balancer, SourcePersistence]:
    running = balancer(backends, routes=[{"pool": "p", "persistence": {"source": source or True}}],
                       pool={"algorithm": "round_robin"})
    listener = running.runtime.listeners[0]
    assert isinstance(listener, HttpListener)
    guard = listener.router.catch_all
    assert isinstance(guard, Guard) and isinstance(guard.persistence, SourcePersistence)
    return running, guard.persistence


@contextmanager
def client_from(running: Balancer, address: str) -> Iterator[httpx.Client]:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 is this machine)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=running.url, transport=transport, timeout=10.0, trust_env=False) as client:
        yield client


def served_by(running: Balancer, address: str, count: int = 1) -> list[str]:
    """The backends that answered ``count`` requests from ``address``, each on a new connection."""
    names = []
    for _ in range(count):
        with client_from(running, address) as client:
            response = client.get("/")
        assert response.status_code == 200, response.text
        assert "set-cookie" not in response.headers
        names.append(response.headers["x-backend"])
    return names


def use_fake_clock(running: Balancer, persistence: SourcePersistence) -> FakeTime:
    fake = FakeTime()
    running.call(setattr, persistence, "clock", lambda: fake.now)
    return fake


def test_each_address_stays_on_its_server(balancer: Callable[..., Balancer]) -> None:
    running, persistence = sticky(balancer)
    addresses = [f"127.0.0.{n}" for n in range(2, 8)]
    homes = {address: served_by(running, address)[0] for address in addresses}
    assert sorted(homes.values()) == ["backend0", "backend0", "backend1", "backend1", "backend2",
                                      "backend2"], "new addresses are placed by round robin"
    for _ in range(3):
        for address in addresses:
            assert served_by(running, address, 3) == [homes[address]] * 3
    assert running.call(lambda: persistence.entries) == 6
    # The servers saw each address only ever on one server.
    for backend in running.backends:
        seen = {request.header("x-real-ip") for request in backend.requests}
        assert seen == {a for a, home in homes.items() if home == backend.name}


def test_an_address_not_seen_for_expire_is_forgotten(balancer: Callable[..., Balancer]) -> None:
    running, persistence = sticky(balancer, 2, expire="30m")
    fake = use_fake_clock(running, persistence)
    assert served_by(running, "127.0.0.2") == ["backend0"]
    assert served_by(running, "127.0.0.3") == ["backend1"]
    fake.advance(20 * 60)
    assert served_by(running, "127.0.0.2") == ["backend0"], "used within 30m: kept, and its time renewed"
    fake.advance(20 * 60)  # .2 was last seen 20m ago, .3 40m ago
    assert served_by(running, "127.0.0.3") == ["backend0"], "forgotten: placed afresh (round robin's turn)"
    assert served_by(running, "127.0.0.2") == ["backend0"]
    assert served_by(running, "127.0.0.3", 3) == ["backend0"] * 3, "and pinned to its new server"


def test_the_table_holds_at_most_max_entries(balancer: Callable[..., Balancer]) -> None:
    running, persistence = sticky(balancer, 3, max_entries=3)
    use_fake_clock(running, persistence)
    homes = [served_by(running, f"127.0.0.{n}")[0] for n in (2, 3, 4, 5)]
    assert homes == ["backend0", "backend1", "backend2", "backend0"]
    assert running.call(lambda: persistence.entries) == 3
    # .2 was the least recently seen: it made room for .5 and is placed afresh.
    assert served_by(running, "127.0.0.2") == ["backend1"]
    assert served_by(running, "127.0.0.4") == ["backend2"], ".4 was kept"
    assert running.call(lambda: persistence.entries) == 3


def test_flooding_addresses_keeps_the_table_at_its_cap(balancer: Callable[..., Balancer]) -> None:
    running, persistence = sticky(balancer, 2, max_entries=50)
    for n in range(120):
        served_by(running, f"127.0.{1 + n // 100}.{n % 100 + 1}")
    assert running.call(lambda: persistence.entries) == 50


def test_a_server_that_cannot_take_traffic_gives_its_addresses_up(balancer: Callable[..., Balancer]) -> None:
    running, _ = sticky(balancer, 2)
    home = served_by(running, "127.0.0.2")[0]
    pool = running.runtime.pools["p"]
    backend = next(b for b in running.backends if b.name == home)
    server = pool.server(f"{backend.address[0]}:{backend.address[1]}")
    assert server is not None
    running.call(pool.set_state, server, "drain")
    assert served_by(running, "127.0.0.2", 3) == [home] * 3, "drain keeps pinned clients"
    running.call(pool.set_up, server, False)
    moved = served_by(running, "127.0.0.2")[0]
    assert moved != home
    running.call(pool.set_state, server, "ready")
    running.call(pool.set_up, server, True)
    assert served_by(running, "127.0.0.2", 3) == [moved] * 3, "the new server is remembered"


def test_a_reload_keeps_what_the_table_remembers(balancer: Callable[..., Balancer]) -> None:
    running, persistence = sticky(balancer, 3)
    homes = {address: served_by(running, address)[0] for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4")}
    addresses = [f"{b.address[0]}:{b.address[1]}" for b in running.backends]
    route = {"pool": "p", "persistence": {"source": True}}
    config = make_config(addresses, routes=[route], pool={"algorithm": "round_robin", "retries": 1})
    running.loop.run(running.runtime.reload(parse_config(config)))
    listener = running.runtime.listeners[0]
    assert isinstance(listener, HttpListener)
    guard = listener.router.catch_all
    assert isinstance(guard, Guard) and guard.persistence is not persistence, "a new router"
    for address, home in reversed(homes.items()):  # not the order round robin would place them in
        assert served_by(running, address, 3) == [home] * 3
    assert running.call(lambda: guard.persistence.entries) == 3  # type: ignore[union-attr]
