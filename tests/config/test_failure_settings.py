"""A pool's retry, breaker, limit and server-state settings: defaults, and errors that name
the field and say what is expected."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, parse_config
from laneway.runtime.pools import build_pool, retry_policy
from laneway.upstream import DRAIN, NO_LIMIT


def document(servers: list[dict[str, object]] | None = None, **pool: object) -> dict[str, object]:
    return {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
        "pools": {"api": {"servers": servers or [{"address": "127.0.0.1:9001"}], **pool}},
    }


def test_defaults_retry_what_no_server_can_have_acted_on() -> None:
    pool = parse_config(document()).pools["api"]
    policy = retry_policy(pool)
    assert (policy.retries, policy.on_connect_failure, policy.on_reset) == (2, True, True)
    assert not policy.on_timeout
    assert policy.statuses == frozenset()
    assert (policy.body_limit, policy.budget_percent, policy.budget_min_per_second) == (64 * 1024, 20.0, 10.0)
    assert policy.total_timeout is None
    assert pool.circuit_breaker is None
    assert (pool.limits.max_requests, pool.limits.max_connecting) == (None, None)


def test_settings_reach_the_pool() -> None:
    config = parse_config(document(
        [{"address": "127.0.0.1:9001", "state": "drain"}, {"address": "127.0.0.1:9002"}],
        retry_on=["timeout", 503, "502"], retry_body_limit="1KiB", retry_budget={"percent": 50},
        timeouts={"total": "3s"}, limits={"max_requests": 10, "max_connecting": 2}))
    pool = build_pool("api", config.pools["api"])
    policy = pool.retry
    assert (policy.on_connect_failure, policy.on_reset, policy.on_timeout) == (False, False, True)
    assert policy.statuses == {502, 503}
    assert (policy.body_limit, policy.budget_percent, policy.total_timeout) == (1024, 50.0, 3.0)
    drained, ready = pool.servers
    assert drained.state == DRAIN and pool.available == [ready]
    assert (ready.max_requests, ready.max_connecting, ready.limit) == (10, 2, 10)


def test_no_limit_unless_configured() -> None:
    pool = build_pool("api", parse_config(document()).pools["api"])
    assert pool.servers[0].limit == NO_LIMIT


def test_breaker_defaults() -> None:
    breaker = parse_config(document(circuit_breaker={})).pools["api"].circuit_breaker
    assert breaker is not None
    assert (breaker.failures, breaker.open_for, breaker.half_open_requests) == (5, 30.0, 1)
    assert breaker.failure_statuses == [502, 503, 504]


@pytest.mark.parametrize(("settings", "path", "words"), [
    ({"retry_on": ["conect_failure"]}, "pools.api.retry_on[0]", "connect_failure, reset, timeout"),
    ({"retry_on": [404]}, "pools.api.retry_on[0]", "5xx status"),
    ({"retry_on": [503, 503]}, "pools.api.retry_on", "listed twice: 503"),
    ({"retry_budget": {"percent": -1}}, "pools.api.retry_budget.percent", "must be >= 0"),
    ({"retry_budget": {"min_concurrent": 3}}, "pools.api.retry_budget.min_concurrent", "unknown key"),
    ({"retry_body_limit": "lots"}, "pools.api.retry_body_limit", ""),
    ({"timeouts": {"total": "0s"}}, "pools.api.timeouts.total", "must be > 0"),
    ({"limits": {"max_requests": 0}}, "pools.api.limits.max_requests", "must be >= 1"),
    ({"circuit_breaker": {"failures": 0}}, "pools.api.circuit_breaker.failures", "must be >= 1"),
    ({"circuit_breaker": {"failure_statuses": [700]}}, "pools.api.circuit_breaker.failure_statuses",
     "100-599"),
    ({"circuit_breaker": {"open": "1s"}}, "pools.api.circuit_breaker.open", "unknown key"),
])
def test_errors_name_the_field(settings: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document(**settings), "laneway.yaml")
    [problem] = error.value.problems
    assert problem.startswith(f"laneway.yaml: {path}: "), problem
    assert words in problem, problem


def test_a_server_state_must_be_known() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document([{"address": "127.0.0.1:9001", "state": "drained"}]), "laneway.yaml")
    [problem] = error.value.problems
    assert problem.startswith("laneway.yaml: pools.api.servers[0].state: "), problem
    assert "ready" in problem and "drain" in problem and "maintenance" in problem
