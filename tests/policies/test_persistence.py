"""The persistence policies on their own: reading and removing the cookie, values per pool,
the attributes, and where the secret comes from. The end-to-end behaviour is in
tests/http/test_persistence_cookie.py and test_persistence_source.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from laneway.balancing import NO_CONTEXT, PickContext
from laneway.config import parse_config
from laneway.config.schema import Persistence as PersistenceConfig
from laneway.policies import CookiePersistence, SourcePersistence, Stick
from laneway.policies.persistence import take_cookie
from laneway.runtime.pools import build_pool
from laneway.runtime.routes import build_persistence, check_cookie_secrets
from laneway.upstream import Pool, Server

SECRET = b"0123456789abcdef0123456789abcdef"


@dataclass
class FakeClient:
    headers: list[bytes] = field(default_factory=list)
    client_ip: bytes = b"192.0.2.7"


def pool_of(name: str, count: int) -> Pool:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": name}]}],
                           "pools": {name: {"algorithm": "round_robin", "servers": [
                               {"address": f"10.0.0.{n}:8080"} for n in range(1, count + 1)]}}})
    return build_pool(name, config.pools[name])


def set_cookie_of(stick: Stick) -> bytes:
    return stick.response_extra


@pytest.mark.parametrize(("lines", "value", "left"), [
    ([b"Cookie: laneway_server=abc\r\n"], b"abc", []),
    ([b"Cookie: a=1; laneway_server=abc; b=2\r\n"], b"abc", [b"Cookie: a=1; b=2\r\n"]),
    ([b"cookie: a=1;laneway_server=abc\r\n"], b"abc", [b"cookie: a=1\r\n"]),
    ([b"Cookie: laneway_server=\"abc\"\r\n"], b"abc", []),
    ([b"Cookie: xlaneway_server=abc\r\n"], None, [b"Cookie: xlaneway_server=abc\r\n"]),
    ([b"Cookie: laneway_server2=abc\r\n"], None, [b"Cookie: laneway_server2=abc\r\n"]),
    ([b"Cookie: laneway_server=one\r\n", b"X-A: 1\r\n", b"Cookie: laneway_server=two; z=9\r\n"], b"one",
     [b"X-A: 1\r\n", b"Cookie: z=9\r\n"]),
    ([b"X-Note: laneway_server=abc\r\n"], None, [b"X-Note: laneway_server=abc\r\n"]),
])
def test_the_cookie_is_read_and_taken_out_of_the_request(lines: list[bytes], value: bytes | None,
                                                          left: list[bytes]) -> None:
    headers = list(lines)
    assert take_cookie(headers, b"laneway_server") == value
    assert headers == left


def test_each_server_of_each_pool_has_its_own_value_and_a_pool_ignores_another_pools() -> None:
    policy = CookiePersistence(b"laneway_server", SECRET)
    web, api = pool_of("web", 3), pool_of("api", 3)  # the same addresses in two pools
    values: dict[tuple[str, str], bytes] = {}
    for pool in (web, api):
        for _ in range(3):
            stick = policy.stick(FakeClient(), b"")
            server = stick.pick(pool, NO_CONTEXT, 0.0, None)
            assert server is not None
            line = set_cookie_of(stick)
            values[pool.name, server.key] = line.split(b"=", 1)[1].split(b";", 1)[0]
    assert len(set(values.values())) == 6
    # A client pinned in web, arriving at api (a split without sticky arms), is placed afresh.
    stick = policy.stick(FakeClient([b"Cookie: laneway_server=%s\r\n" % values["web", "10.0.0.1:8080"]]), b"")
    stick.pick(api, NO_CONTEXT, 0.0, None)
    assert set_cookie_of(stick).startswith(b"\r\nSet-Cookie: laneway_server=")


def test_the_header_lines_before_are_kept_and_the_cookie_comes_after_them() -> None:
    policy = CookiePersistence(b"srv", SECRET, max_age=60, domain=b"example.com", secure=True)
    stick = policy.stick(FakeClient(), b"\r\nSet-Cookie: lw_arm=x")
    stick.pick(pool_of("web", 1), NO_CONTEXT, 0.0, None)
    extra = set_cookie_of(stick)
    assert extra.startswith(b"\r\nSet-Cookie: lw_arm=x\r\nSet-Cookie: srv=")
    assert extra.endswith(b"; Path=/; Domain=example.com; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
                          b"\r\nCache-Control: private")


def test_a_retry_to_another_server_re_pins_and_never_returns_to_the_failed_one() -> None:
    policy = CookiePersistence(b"srv", SECRET)
    pool = pool_of("web", 2)
    first = policy.stick(FakeClient(), b"")
    failed = first.pick(pool, NO_CONTEXT, 0.0, None)
    assert failed is not None
    cookie = set_cookie_of(first).split(b"=", 1)[1].split(b";", 1)[0]
    stick = policy.stick(FakeClient([b"Cookie: srv=%s\r\n" % cookie]), b"")
    # The pinned server is in the request's tried list: it is not chosen again.
    other = stick.pick(pool, PickContext(None, None, [failed]), 0.0, None)
    assert other is not None and other is not failed
    assert set_cookie_of(stick), "the client is told its new server"


def test_source_persistence_keys_on_the_client_address_and_its_own_clock() -> None:
    now = [0.0]
    policy = SourcePersistence(expire=10.0, max_entries=5, clock=lambda: now[0])
    pool = pool_of("web", 2)

    def home(address: bytes) -> Server | None:
        return policy.stick(FakeClient(client_ip=address), b"").pick(pool, NO_CONTEXT, 0.0, None)

    homes = [home(b"192.0.2.1"), home(b"192.0.2.2")]
    assert homes[0] is not homes[1]
    for _ in range(4):
        assert home(b"192.0.2.1") is homes[0]
    now[0] = 100.0
    assert home(b"192.0.2.2") is homes[0], "forgotten after expire: round robin's next"
    stick = policy.stick(FakeClient(client_ip=b""), b"\r\nX: 1")
    assert stick.pick(pool, NO_CONTEXT, 0.0, None) is not None, "no address (a unix socket): no table"
    assert stick.response_extra == b"\r\nX: 1", "source persistence adds no header"


def persistence(cookie: dict[str, Any]) -> PersistenceConfig:
    return PersistenceConfig.model_validate({"cookie": cookie})


def test_the_secret_comes_from_the_config_the_environment_or_the_instance() -> None:
    def value(config: PersistenceConfig, environ: dict[str, str], fallback: bytes = SECRET) -> bytes:
        policy = build_persistence(config, secure=False, secret=fallback, clock=lambda: 0.0, environ=environ)
        assert isinstance(policy, CookiePersistence)
        return policy.secret

    assert value(persistence({}), {}) == SECRET
    assert value(persistence({"secret": "from-the-file-0123"}), {}) == b"from-the-file-0123"
    assert value(persistence({"secret_env": "LW_SECRET"}), {"LW_SECRET": "from-the-environment"}) == (
        b"from-the-environment")


@pytest.mark.parametrize(("environ", "problem"), [
    ({}, "is not set or empty"),
    ({"LW_SECRET": "short"}, "is shorter than 16 characters"),
])
def test_a_missing_environment_secret_stops_laneway_naming_the_route(environ: dict[str, str],
                                                                     problem: str) -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [
        {"match": {"path_prefix": "/a/"}, "pool": "web"},
        {"pool": "web", "persistence": {"cookie": {"secret_env": "LW_SECRET"}}}]}],
        "pools": {"web": {"servers": [{"address": "10.0.0.1:80"}]}}})
    with pytest.raises(ValueError) as caught:
        check_cookie_secrets(config, environ)
    assert str(caught.value) == (
        "listeners[0].routes[1].persistence.cookie.secret_env: the environment variable "
        f"LW_SECRET {problem}; set it to the same secret of 16 characters or more on every instance "
        "before starting laneway")
    check_cookie_secrets(config, {"LW_SECRET": "long-enough-secret"})


@pytest.mark.parametrize(("secure", "tls", "expected"), [
    (None, False, False), (None, True, True), (True, False, True), (False, True, False)])
def test_secure_follows_the_listener_unless_set(secure: bool | None, tls: bool, expected: bool) -> None:
    config = persistence({} if secure is None else {"secure": secure})
    policy = build_persistence(config, secure=tls, secret=SECRET, clock=lambda: 0.0, environ={})
    assert isinstance(policy, CookiePersistence)
    assert policy.attributes.endswith(b"; Secure") == expected


def test_a_client_pinned_to_a_backup_goes_back_to_a_primary_when_one_returns() -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "web"}]}],
                           "pools": {"web": {"servers": [{"address": "10.0.0.1:80"},
                                                         {"address": "10.0.0.2:80", "backup": True}]}}})
    pool = build_pool("web", config.pools["web"])
    primary, backup = pool.servers
    policy = CookiePersistence(b"srv", SECRET)
    pool.set_up(primary, False)
    first = policy.stick(FakeClient(), b"")
    assert first.pick(pool, NO_CONTEXT, 0.0, None) is backup
    cookie = set_cookie_of(first).split(b"=", 1)[1].split(b";", 1)[0]

    def with_cookie() -> Server | None:
        stick = policy.stick(FakeClient([b"Cookie: srv=%s\r\n" % cookie]), b"")
        return stick.pick(pool, NO_CONTEXT, 0.0, None)

    assert with_cookie() is backup, "kept on the backup while the pool runs on backups"
    pool.set_up(primary, True)
    assert with_cookie() is primary, "backups serve only while no primary can"
