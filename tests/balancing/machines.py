"""A Hypothesis state machine for the least-connections family, shared by its two test modules.

The machine keeps its own model of requests in flight and, after every pick, checks the rule
the chapter states and the algorithm must keep: no available target is less loaded per weight
than the one picked, compared by cross-multiplying (``a.in_flight * b.weight``).
"""

from __future__ import annotations

import random

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from laneway.balancing import PickContext, create, is_excluded
from laneway.balancing.least_connections import LeastConnections
from tests.balancing.support import Server

KEYS = [f"s{i}" for i in range(6)]


class LeastLoadedMachine(RuleBasedStateMachine):
    algorithm = "least_connections"

    def __init__(self) -> None:
        super().__init__()
        balancer = create(self.algorithm, random.Random(0))
        assert isinstance(balancer, LeastConnections)
        self.balancer: LeastConnections[Server] = balancer
        self.pool = [Server(key, weight) for key, weight in zip(KEYS[:3], (3, 1, 2), strict=True)]
        self.balancer.update(self.pool, 0.0)
        self.in_flight: dict[str, int] = {}
        self.started: list[Server] = []
        self.now = 0.0

    def weight(self, target: Server) -> int:
        return target.weight if self.balancer.weighted else 1

    @rule(exclude=st.sets(st.sampled_from(KEYS), max_size=3))
    def pick_and_start(self, exclude: set[str]) -> None:
        self.now += 0.001
        target = self.balancer.pick(PickContext(exclude=exclude), self.now)
        assert target is not None and target in self.pool
        allowed = [t for t in self.pool if not is_excluded(t, exclude)]
        if allowed:
            assert target in allowed
        else:
            allowed = self.pool
        load = self.in_flight.get(target.key, 0)
        for other in allowed:
            other_load = self.in_flight.get(other.key, 0)
            assert load * self.weight(other) <= other_load * self.weight(target), (
                f"picked {target} with {load} in flight over {other} with {other_load}")
        self.balancer.on_start(target, self.now)
        self.in_flight[target.key] = load + 1
        self.started.append(target)

    @rule(data=st.data())
    def end_one(self, data: st.DataObject) -> None:
        if not self.started:
            return
        target = self.started.pop(data.draw(st.integers(0, len(self.started) - 1)))
        self.balancer.on_end(target, self.now, 0.01, False)
        self.in_flight[target.key] -= 1

    @rule(keys=st.sets(st.sampled_from(KEYS), min_size=1), weights=st.lists(st.integers(1, 4), min_size=6,
                                                                              max_size=6))
    def change_the_set(self, keys: set[str], weights: list[int]) -> None:
        """Servers leave, come back and change weight; the books must follow by key."""
        self.pool = [Server(key, weights[KEYS.index(key)]) for key in sorted(keys)]
        self.balancer.update(self.pool, self.now)

    @invariant()
    def books_match_the_model(self) -> None:
        for target in self.pool:
            assert self.balancer.in_flight(target) == self.in_flight.get(target.key, 0)
        heap_limit = 2 * len(self.pool) + 32
        assert len(self.balancer._heap) <= heap_limit + 1
