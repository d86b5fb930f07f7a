"""The schema's defaults and the shapes it accepts."""

from __future__ import annotations

import pytest

from laneway.config import parse_config
from laneway.config.schema import parse_address


def minimal() -> dict[str, object]:
    return {"listeners": [{"name": "web", "bind": "127.0.0.1:8080", "routes": [{"pool": "api"}]}],
            "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}}


def test_defaults_are_the_documented_ones() -> None:
    config = parse_config(minimal())
    listener = config.listeners[0]
    assert listener.protocol == "http"
    assert listener.limits.max_request_line == 8 * 1024
    assert listener.limits.max_header_size == 64 * 1024
    assert (listener.timeouts.header, listener.timeouts.idle, listener.timeouts.body) == (10.0, 60.0, 60.0)
    pool = config.pools["api"]
    assert pool.algorithm == "least_request"
    assert (pool.timeouts.connect, pool.timeouts.response) == (5.0, 60.0)
    assert (pool.keepalive.max_idle, pool.keepalive.idle_timeout) == (64, 60.0)
    server = pool.servers[0]
    assert (server.weight, server.backup) == (1, False)
    assert config.shutdown_grace == 10.0
    assert listener.routes[0].match.host is None and listener.routes[0].match.path_prefix is None


@pytest.mark.parametrize(
    ("text", "parts"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("localhost:0", ("localhost", 0)),
     ("[::1]:443", ("::1", 443)), ("backend.internal:65535", ("backend.internal", 65535))],
)
def test_addresses_split_into_host_and_port(text: str, parts: tuple[str, int]) -> None:
    assert parse_address(text, what="bind") == parts


def test_the_config_is_frozen() -> None:
    config = parse_config(minimal())
    with pytest.raises(ValueError, match="frozen"):
        config.listeners[0].name = "other"  # type: ignore[misc]
