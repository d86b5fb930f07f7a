"""Config names to algorithm classes (uvicorn's name-to-class tables)."""

from __future__ import annotations

import random

from laneway.balancing.base import Balancer
from laneway.balancing.round_robin import RoundRobin

ALGORITHMS: dict[str, type[Balancer]] = {  # type: ignore[type-arg]
    RoundRobin.name: RoundRobin,
}

# The algorithm a pool gets when it names none.
DEFAULT_ALGORITHM = "round_robin"


def create(name: str, rng: random.Random | None = None, **options: object) -> Balancer:  # type: ignore[type-arg]
    """Build the algorithm called ``name`` (a key of ``ALGORITHMS``)."""
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(sorted(ALGORITHMS))}") from None
    return cls(rng, **options)  # type: ignore[call-arg]
