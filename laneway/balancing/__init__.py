"""Balancing algorithms: pure, importable on their own, no I/O (see base.py)."""

from laneway.balancing.base import NO_CONTEXT, Balancer, PickContext, Target
from laneway.balancing.registry import ALGORITHMS, DEFAULT_ALGORITHM, create
from laneway.balancing.round_robin import RoundRobin

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "NO_CONTEXT",
    "Balancer",
    "PickContext",
    "RoundRobin",
    "Target",
    "create",
]
