"""Weighted least connections: the fewest requests in flight per unit of weight.

``in_flight / weight``, compared as ``a.in_flight * b.weight < b.in_flight * a.weight``: a
server of weight 10 with 40 in flight (4.0) is less loaded than one of weight 5 with 25 (5.0).
The heap, the tie-break by weight among equal loads and the O(log n) costs are those of
``least_connections`` (see its module); slow start lowers a returning server's weight, so it
is given fewer concurrent requests until its ramp ends.
"""

from __future__ import annotations

import random

from laneway.balancing.base import Balancer, T
from laneway.balancing.least_connections import LeastConnections


class WeightedLeastConnections(LeastConnections[T]):
    """Least ``in_flight / weight``, ties shared in proportion to weight."""

    name = "weighted_least_connections"
    weighted = True

    def __init__(self, rng: random.Random | None = None, *, slow_start: float = 0.0) -> None:
        # LeastConnections takes no options (it ignores weights), so set up the base directly.
        Balancer.__init__(self, rng, slow_start=slow_start)
        self._clear()
