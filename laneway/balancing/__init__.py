"""Balancing algorithms: pure, importable on their own, no I/O (see base.py).

``create(name, rng, **options)`` builds one by its config name; ``docs/balancing.md`` says which
to use when.
"""

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, Target, is_excluded
from laneway.balancing.consistent_hash import ConsistentHash
from laneway.balancing.ip_hash import IpHash
from laneway.balancing.key_hash import KeyHash
from laneway.balancing.least_connections import LeastConnections
from laneway.balancing.least_request import LeastRequest
from laneway.balancing.least_response_time import LeastResponseTime
from laneway.balancing.random_choice import RandomChoice
from laneway.balancing.registry import ALGORITHMS, DEFAULT_ALGORITHM, create, options
from laneway.balancing.round_robin import RoundRobin
from laneway.balancing.weighted_least_connections import WeightedLeastConnections
from laneway.balancing.weighted_round_robin import WeightedRoundRobin

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "NO_CONTEXT",
    "Balancer",
    "ConsistentHash",
    "IpHash",
    "KeyHash",
    "LeastConnections",
    "LeastRequest",
    "LeastResponseTime",
    "PickContext",
    "RandomChoice",
    "RoundRobin",
    "Target",
    "WeightedLeastConnections",
    "WeightedRoundRobin",
    "create",
    "is_excluded",
    "options",
]
