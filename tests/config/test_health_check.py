"""A pool's health_check: its defaults, the shapes it accepts and its errors."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, parse_config
from laneway.config.schema import HealthCheck


def document(**check: object) -> dict[str, object]:
    return {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}], "health_check": check}},
    }


def check_of(**check: object) -> HealthCheck:
    health_check = parse_config(document(**check)).pools["api"].health_check
    assert health_check is not None
    return health_check


def problem(**check: object) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(document(**check), "laneway.yaml")
    [only] = error.value.problems
    return only


def test_no_health_check_unless_configured() -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "a"}]}],
                           "pools": {"a": {"servers": [{"address": "127.0.0.1:9001"}]}}})
    assert config.pools["a"].health_check is None


def test_defaults_are_haproxys() -> None:
    check = check_of()
    assert (check.type, check.method, check.path, check.host) == ("http", "GET", "/health", None)
    assert check.expect_status == [(200, 399)]
    assert check.expect_body is None
    assert (check.interval, check.timeout, check.rise, check.fall, check.jitter) == (2.0, 1.0, 2, 3, 0.1)


def test_the_chapters_database_check() -> None:
    check = check_of(method="GET", path="/db-health", host="localhost", expect_status=[200],
                     expect_body="DB_OK", interval="3s", timeout="500ms", rise=2, fall=3, jitter=0)
    assert (check.method, check.path, check.host, check.expect_body) == ("GET", "/db-health", "localhost",
                                                                        "DB_OK")
    assert check.expect_status == [(200, 200)]
    assert (check.interval, check.timeout, check.jitter) == (3.0, 0.5, 0.0)


def test_statuses_and_ranges() -> None:
    check = check_of(expect_status=[200, "204", "301-302", " 400 - 404 "])
    assert check.expect_status == [(200, 200), (204, 204), (301, 302), (400, 404)]
    assert check.status_expected(204) and check.status_expected(302) and check.status_expected(404)
    assert not check.status_expected(201) and not check.status_expected(500)


def test_a_tcp_check_needs_only_timing() -> None:
    check = check_of(type="tcp", interval="1s", timeout="200ms", fall=2)
    assert (check.type, check.interval, check.timeout, check.fall) == ("tcp", 1.0, 0.2, 2)


def test_it_serializes_as_it_is_written() -> None:
    dumped = check_of(expect_status=[200, "300-302"], interval="500ms", timeout="250ms").model_dump()
    assert dumped["expect_status"] == [200, "300-302"]
    assert (dumped["interval"], dumped["timeout"]) == ("0.5s", "0.25s")
    assert HealthCheck.model_validate(dumped).expect_status == [(200, 200), (300, 302)]


@pytest.mark.parametrize(("check", "field", "message"), [
    ({"expect_status": ["200-"]}, "expect_status[0]", "a range such as 200-399"),
    ({"expect_status": [99]}, "expect_status[0]", "a status is 100-599, got 99"),
    ({"expect_status": ["399-200"]}, "expect_status[0]", "from low to high"),
    ({"expect_status": [True]}, "expect_status[0]", "expected a status"),
    ({"expect_status": []}, "expect_status", "must not be empty"),
    ({"type": "udp"}, "type", "'http' or 'tcp'"),
    ({"method": "get"}, "method", "upper-case letters"),
    ({"path": "health"}, "path", "starts with /"),
    ({"path": "/a b"}, "path", "no spaces"),
    ({"host": "a\r\nX: y"}, "host", "without spaces"),
    ({"expect_body": ""}, "expect_body", "at least 1"),
    ({"interval": "0s"}, "interval", "must be > 0"),
    ({"timeout": 0}, "timeout", "must be > 0"),
    ({"rise": 0}, "rise", "must be >= 1"),
    ({"fall": 0}, "fall", "must be >= 1"),
    ({"jitter": 1.5}, "jitter", "must be <= 1"),
    ({"jitter": -0.1}, "jitter", "must be >= 0"),
    ({"intervall": "2s"}, "intervall", "did you mean 'interval'"),
])
def test_errors_name_the_field(check: dict[str, object], field: str, message: str) -> None:
    found = problem(**check)
    assert found.startswith(f"laneway.yaml: pools.api.health_check.{field}: "), found
    assert message in found, found


def test_timeout_must_not_exceed_interval() -> None:
    found = problem(interval="1s", timeout="2s")
    assert found.startswith("laneway.yaml: pools.api.health_check: "), found
    assert "timeout (2s) must not exceed interval (1s)" in found
    assert check_of(interval="1s", timeout="1s").timeout == 1.0


def test_http_settings_on_a_tcp_check_are_errors() -> None:
    found = problem(type="tcp", path="/health", expect_body="ok")
    assert "path, expect_body applies only to type http" in found


def test_a_body_cannot_be_expected_of_head() -> None:
    assert check_of(method="HEAD").method == "HEAD"
    assert "a response to HEAD has none: use GET" in problem(method="HEAD", expect_body="DB_OK")
