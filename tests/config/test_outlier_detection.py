"""A pool's outlier_detection (passive checks): defaults and errors that name the field."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, parse_config


def document(**outliers: object) -> dict[str, object]:
    return {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}], "outlier_detection": outliers}},
    }


def test_defaults() -> None:
    found = parse_config(document()).pools["api"].outlier_detection
    assert found is not None
    assert (found.consecutive_failures, found.ejection_time, found.max_ejection_time) == (5, 30.0, 300.0)
    assert found.failure_statuses == [502, 503, 504]


def test_off_unless_configured() -> None:
    config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
                           "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}})
    assert config.pools["api"].outlier_detection is None


@pytest.mark.parametrize(("settings", "path", "words"), [
    ({"consecutive_failures": 0}, "pools.api.outlier_detection.consecutive_failures", "must be >= 1, got 0"),
    ({"failure_statuses": [503, 700]}, "pools.api.outlier_detection.failure_statuses", "100-599"),
    ({"ejection_time": "1m", "max_ejection_time": "10s"}, "pools.api.outlier_detection", "at least"),
    ({"ejection": "1s"}, "pools.api.outlier_detection.ejection", "unknown key"),
])
def test_errors_name_the_field(settings: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document(**settings), "laneway.yaml")
    [problem] = error.value.problems
    assert problem.startswith(f"laneway.yaml: {path}: "), problem
    assert words in problem, problem
