"""create(), options(), the default, and what every algorithm owes: exclude, determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.balancing import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    Balancer,
    KeyHash,
    LeastRequest,
    PickContext,
    create,
    options,
)
from tests.balancing.support import Server, servers


def test_every_algorithm_is_registered_under_its_config_name() -> None:
    assert sorted(ALGORITHMS) == sorted([
        "round_robin", "random", "weighted_round_robin", "least_connections", "weighted_least_connections",
        "least_request", "least_response_time", "ip_hash", "hash",
    ])
    for name, cls in ALGORITHMS.items():
        assert cls.name == name
        assert isinstance(create(name), cls)


def test_the_default_is_the_power_of_two_choices() -> None:
    assert DEFAULT_ALGORITHM == "least_request"
    assert isinstance(create(DEFAULT_ALGORITHM), LeastRequest)


def test_options_and_their_defaults() -> None:
    assert options("round_robin") == {}
    assert options("least_connections") == {}
    assert options("weighted_round_robin") == {"slow_start": 0.0}
    assert options("least_request") == {"bias": 1.0, "rate_decay": 1.0, "slow_start": 0.0}
    assert options("least_response_time") == {"decay": 10.0, "default_rtt": None, "slow_start": 0.0}
    assert options("hash") == options("ip_hash") == {"replicas": 160, "bound": None, "slow_start": 0.0}


def test_options_reach_the_algorithm() -> None:
    balancer = create("hash", random.Random(1), bound=1.25, replicas=40, slow_start=5)
    assert isinstance(balancer, KeyHash)
    assert (balancer.bound, balancer.replicas, balancer.slow_start) == (1.25, 40, 5.0)


def test_an_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown algorithm 'fastest'; choose one of hash, ip_hash, "):
        create("fastest")


def test_an_unknown_option_names_it_and_lists_the_right_ones() -> None:
    with pytest.raises(ValueError, match=r"algorithm 'least_request' has no option 'bais'; "
                                         r"its options are bias, rate_decay, slow_start"):
        create("least_request", bais=2.0)
    with pytest.raises(ValueError, match=r"'round_robin' has no option 'bound'; it takes no options"):
        create("round_robin", bound=1.25)


@pytest.mark.parametrize(("name", "option", "value", "message"), [
    ("least_request", "bias", -0.5, "least_request: bias must be >= 0, got -0.5"),
    ("least_request", "rate_decay", 0, "least_request: rate_decay must be > 0, got 0"),
    ("least_response_time", "decay", "10s", "least_response_time: decay must be a number, got '10s'"),
    ("least_response_time", "default_rtt", 0.0, "least_response_time: default_rtt must be > 0"),
    ("hash", "bound", 0.9, "hash: bound must be >= 1, got 0.9; use e.g. 1.25"),
    ("ip_hash", "replicas", 0, "ip_hash: replicas must be a whole number from 1 to 10000, got 0"),
])
def test_a_bad_option_value_names_the_algorithm_the_option_and_a_fix(
        name: str, option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        settings: dict[str, object] = {option: value}
        create(name, None, **settings)


def drive(balancer: Balancer[Server], pool: list[Server], seed: int, steps: int) -> list[str]:
    """Picks, starts and ends in an order drawn from ``seed``, with a moving fake clock."""
    script = random.Random(seed)
    balancer.update(pool, 0.0)
    in_flight: list[Server] = []
    keys = []
    now = 0.0
    for _ in range(steps):
        now += script.random() * 0.01
        if in_flight and script.random() < 0.5:
            done = in_flight.pop(script.randrange(len(in_flight)))
            balancer.on_end(done, now, script.random() * 0.1, script.random() < 0.1)
            continue
        context = PickContext(client_address=f"10.0.0.{script.randrange(256)}", hash_key=str(script.random()))
        target = balancer.pick(context, now)
        assert target is not None
        balancer.on_start(target, now)
        in_flight.append(target)
        keys.append(target.key)
    return keys


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_same_seed_gives_the_same_picks(name: str) -> None:
    pool = servers(3, 1, 2, 1, 5)
    first = drive(create(name, random.Random(42)), pool, seed=7, steps=400)
    again = drive(create(name, random.Random(42)), pool, seed=7, steps=400)
    assert first == again


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.integers(1, 5), min_size=2, max_size=8), data=st.data())
def test_exclude_is_honoured_whenever_another_target_exists(
        name: str, weights: list[int], data: st.DataObject) -> None:
    pool = servers(*weights)
    balancer = create(name, random.Random(data.draw(st.integers(0, 2**32))))
    balancer.update(pool, 0.0)
    for step in range(20):
        excluded = data.draw(st.lists(st.sampled_from(pool), max_size=len(pool) - 1, unique=True))
        by_key = data.draw(st.booleans())
        exclude = {target.key for target in excluded} if by_key else tuple(excluded)
        context = PickContext(client_address=f"10.1.0.{step}", hash_key=f"k{step}", exclude=exclude)
        target = balancer.pick(context, step * 0.1)
        assert target is not None and target not in excluded
        balancer.on_start(target, step * 0.1)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_when_every_target_is_excluded_one_is_still_picked(name: str) -> None:
    pool = servers(1, 2, 3)
    balancer = create(name, random.Random(0))
    balancer.update(pool, 0.0)
    assert balancer.pick(PickContext(hash_key="k", exclude=tuple(pool))) in pool
