"""The interface's shared parts: PickContext, exclude by object or key, option checks, books."""

from __future__ import annotations

import pytest

from laneway.balancing import ALGORITHMS, NO_CONTEXT, PickContext, create, is_excluded
from laneway.balancing.base import check_number
from tests.balancing.support import Server, servers


def test_an_empty_context_has_nothing_in_it() -> None:
    assert (NO_CONTEXT.client_address, NO_CONTEXT.hash_key, tuple(NO_CONTEXT.exclude)) == (None, None, ())


def test_exclude_names_a_target_by_the_object_or_by_its_key() -> None:
    a, b = servers(1, 1)
    assert is_excluded(a, (a,))
    assert is_excluded(a, {"s0"})
    assert not is_excluded(b, (a, "s2"))


@pytest.mark.parametrize("value", ["1", None, True, float("nan"), float("inf"), -1.0])
def test_a_bad_number_is_named_with_its_option_and_a_fix(value: object) -> None:
    with pytest.raises(ValueError, match=r"^x: slow_start must be .*; use seconds"):
        check_number("x", "slow_start", value, minimum=0.0, hint="; use seconds")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_no_targets_means_no_pick(name: str) -> None:
    balancer = create(name)
    assert balancer.pick() is None
    balancer.update(servers(1, 2), 0.0)
    balancer.update([], 1.0)
    assert balancer.pick(NO_CONTEXT, 1.0) is None


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_single_target_is_always_the_pick_even_when_excluded(name: str) -> None:
    only = Server("only", 3)
    balancer = create(name)
    balancer.update([only], 0.0)
    assert balancer.pick(PickContext(client_address="10.0.0.1", hash_key="k")) is only
    assert balancer.pick(PickContext(exclude=(only,))) is only


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_books_tolerate_ends_without_starts_and_targets_that_left(name: str) -> None:
    a, b, c = servers(1, 1, 1)
    balancer = create(name)
    balancer.update([a, b, c], 0.0)
    balancer.on_end(a, 0.0, 0.1, False)  # never started: ignored, not negative
    balancer.on_start(b, 0.0)
    balancer.update([a, c], 1.0)  # b leaves with a request in flight
    balancer.on_end(b, 2.0, 2.0, False)
    balancer.on_start(Server("stranger"), 2.0)
    balancer.on_end(Server("stranger"), 2.0, 0.0, True)
    balancer.update([a, b, c], 3.0)
    picks = {balancer.pick(PickContext(hash_key=str(k)), 3.0) for k in range(200)}
    assert picks <= {a, b, c}
