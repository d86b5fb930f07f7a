"""Pool settings for the balancing algorithms: accepted where they apply, refused elsewhere."""

from __future__ import annotations

import pytest

from laneway.balancing.registry import ALGORITHMS, DEFAULT_ALGORITHM, options
from laneway.config import ConfigError, parse_config
from laneway.config.schema import ALGORITHM_OPTIONS, Pool


def document(**pool: object) -> dict[str, object]:
    return {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
        "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}], **pool}},
    }


def test_the_schema_knows_every_algorithm_and_its_options() -> None:
    assert set(ALGORITHM_OPTIONS) == set(ALGORITHMS)
    for name, names in ALGORITHM_OPTIONS.items():
        assert set(names) == set(options(name)), name


def test_the_default_algorithm_is_the_balancing_default() -> None:
    assert Pool.model_fields["algorithm"].default == DEFAULT_ALGORITHM


def test_settings_reach_the_algorithm_as_keyword_arguments() -> None:
    config = parse_config(document(algorithm="least_request", bias=2, slow_start="30s"))
    assert config.pools["api"].algorithm_options == {"bias": 2.0, "slow_start": 30.0}


@pytest.mark.parametrize(("algorithm", "setting", "value"), [
    ("round_robin", "slow_start", "10s"),
    ("least_connections", "bound", 1.25),
    ("weighted_round_robin", "bias", 1.0),
    ("least_request", "replicas", 100),
])
def test_a_setting_the_algorithm_ignores_is_an_error(algorithm: str, setting: str, value: object) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document(algorithm=algorithm, **{setting: value}), "laneway.yaml")
    [problem] = error.value.problems
    assert problem.startswith("laneway.yaml: pools.api: ")
    assert f"{setting} does not apply to algorithm {algorithm}" in problem


def test_hash_needs_exactly_one_key_source() -> None:
    with pytest.raises(ConfigError) as missing:
        parse_config(document(algorithm="hash"))
    assert "algorithm hash needs hash_key" in missing.value.problems[0]
    with pytest.raises(ConfigError) as two:
        parse_config(document(algorithm="hash", hash_key={"header": "X-User", "cookie": "sid"}))
    assert "exactly one of header, cookie, query or path" in two.value.problems[0]
    config = parse_config(document(algorithm="hash", hash_key={"cookie": "sid"}, bound=1.25))
    assert config.pools["api"].hash_key is not None
    assert config.pools["api"].algorithm_options == {"bound": 1.25}


def test_bound_below_one_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document(algorithm="ip_hash", bound=0.5), "laneway.yaml")
    assert error.value.problems[0].startswith("laneway.yaml: pools.api.bound: ")
