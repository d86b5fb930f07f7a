"""The admin block: optional, loopback by default, a token required off loopback."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, parse_config

TOKEN = "s3cret-admin-token-0123"


def document(admin: object) -> dict[str, object]:
    return {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}},
        "admin": admin,
    }


def test_off_unless_configured() -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
                           "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}})
    assert config.admin is None


def test_defaults() -> None:
    admin = parse_config(document({})).admin
    assert admin is not None
    assert admin.bind == "127.0.0.1:9000"
    assert (admin.token, admin.token_env, admin.read_requires_token) == (None, None, False)


@pytest.mark.parametrize("bind", ["127.0.0.1:9000", "127.0.0.2:9000", "localhost:9000", "[::1]:9000"])
def test_loopback_needs_no_token(bind: str) -> None:
    admin = parse_config(document({"bind": bind})).admin
    assert admin is not None and admin.bind == bind


@pytest.mark.parametrize("token", [{"token": TOKEN}, {"token_env": "LANEWAY_ADMIN_TOKEN"}])
def test_other_addresses_with_a_token(token: dict[str, str]) -> None:
    admin = parse_config(document({"bind": "0.0.0.0:9000", **token})).admin
    assert admin is not None and admin.bind == "0.0.0.0:9000"


@pytest.mark.parametrize(("settings", "path", "words"), [
    ({"bind": "0.0.0.0:9000"}, "admin", "set token_env (or token), or bind to a loopback address"),
    ({"bind": "admin.example.com:9000"}, "admin", "set token_env (or token)"),
    ({"bind": "9000"}, "admin.bind", "must be host:port"),
    ({"token": "short"}, "admin.token", "at least 16"),
    ({"token_env": "NOT A NAME"}, "admin.token_env", "an environment variable's name"),
    ({"token": TOKEN, "token_env": "X"}, "admin", "not both"),
    ({"read_requires_token": True}, "admin", "set token or token_env"),
    ({"port": 9000}, "admin.port", "unknown key"),
])
def test_errors_name_the_field_and_the_fix(settings: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document(settings), "laneway.yaml")
    [problem] = error.value.problems
    assert problem.startswith(f"laneway.yaml: {path}: "), problem
    assert words in problem, problem


def test_shutdown_delay() -> None:
    admin = parse_config(document({"shutdown_delay": "5s"})).admin
    assert admin is not None and admin.shutdown_delay == 5.0
    with pytest.raises(ConfigError) as error:
        parse_config(document({"shutdown_delay": "10m"}), "laneway.yaml")
    assert error.value.problems[0].startswith("laneway.yaml: admin.shutdown_delay: must be <= ")
