"""Weighted least connections: in flight per weight, cross-multiplied; idle shares by weight."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.balancing import WeightedLeastConnections
from tests.balancing.machines import LeastLoadedMachine
from tests.balancing.support import Server, sequential


def test_the_chapters_example_goes_to_the_weak_server_with_the_lowest_ratio() -> None:
    powerful, medium, weak = Server("powerful", 10), Server("medium", 5), Server("weak", 2)
    balancer: WeightedLeastConnections[Server] = WeightedLeastConnections()
    balancer.update([powerful, medium, weak], 0.0)
    for target, count in ((powerful, 40), (medium, 25), (weak, 6)):  # 4.0, 5.0, 3.0
        for _ in range(count):
            balancer.on_start(target, 0.0)
    assert balancer.pick() is weak


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 2**20), st.integers(0, 2**32 - 1), st.integers(1, 2**20))
def test_the_heaps_float_key_orders_exactly_as_cross_multiplying(p: int, q: int, r: int, s: int) -> None:
    """The claim in least_connections.py: in_flight < 2**32 and weight <= 2**20 keep it exact."""
    assert (p / q < r / s) == (p * s < r * q)
    assert (p / q == r / s) == (p * s == r * q)


def test_equal_ratios_tie_and_the_tie_is_shared() -> None:
    """1/3 and 2/6 are the same load: the pick alternates by pass, not by float noise."""
    a, b = Server("a", 3), Server("b", 6)
    balancer: WeightedLeastConnections[Server] = WeightedLeastConnections()
    balancer.update([a, b], 0.0)
    for target, count in ((a, 1), (b, 2)):
        for _ in range(count):
            balancer.on_start(target, 0.0)
    # From the 1/3 = 2/6 tie, each pick is started and ended at once: the tie stays and is shared.
    keys = sequential(balancer, 90)
    assert Counter(keys) == {"a": 30, "b": 60}


def test_idle_servers_share_in_proportion_to_weight() -> None:
    pool = [Server("a", 3), Server("b", 1), Server("c", 2)]
    balancer: WeightedLeastConnections[Server] = WeightedLeastConnections()
    balancer.update(pool, 0.0)
    assert Counter(sequential(balancer, 600)) == {"a": 300, "b": 100, "c": 200}


def test_under_load_in_flight_follows_weight() -> None:
    pool = [Server("a", 3), Server("b", 1)]
    balancer: WeightedLeastConnections[Server] = WeightedLeastConnections()
    balancer.update(pool, 0.0)
    for _ in range(40):
        target = balancer.pick()
        assert target is not None
        balancer.on_start(target, 0.0)
    assert (balancer.in_flight(pool[0]), balancer.in_flight(pool[1])) == (30, 10)


class WeightedMachine(LeastLoadedMachine):
    algorithm = "weighted_least_connections"


WeightedMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestWeightedLeastConnectionsMachine = WeightedMachine.TestCase
