"""Config names to algorithm classes (uvicorn's name-to-class tables), and ``create``."""

from __future__ import annotations

import inspect
import random
from typing import Any

from laneway.balancing.base import Balancer
from laneway.balancing.ip_hash import IpHash
from laneway.balancing.key_hash import KeyHash
from laneway.balancing.least_connections import LeastConnections
from laneway.balancing.least_request import LeastRequest
from laneway.balancing.least_response_time import LeastResponseTime
from laneway.balancing.random_choice import RandomChoice
from laneway.balancing.round_robin import RoundRobin
from laneway.balancing.weighted_least_connections import WeightedLeastConnections
from laneway.balancing.weighted_round_robin import WeightedRoundRobin

ALGORITHMS: dict[str, type[Balancer[Any]]] = {
    cls.name: cls
    for cls in (
        RoundRobin,
        RandomChoice,
        WeightedRoundRobin,
        LeastConnections,
        WeightedLeastConnections,
        LeastRequest,
        LeastResponseTime,
        IpHash,
        KeyHash,
    )
}

# The algorithm a pool gets when it names none: the power of two choices (see least_request.py
# for why; Envoy and HAProxy 3.3 default to it too).
DEFAULT_ALGORITHM = LeastRequest.name


def _lookup(name: str) -> type[Balancer[Any]]:
    try:
        return ALGORITHMS[name]
    except KeyError:
        choices = ", ".join(sorted(ALGORITHMS))
        raise ValueError(f"unknown algorithm {name!r}; choose one of {choices}") from None


def options(name: str) -> dict[str, object]:
    """The options ``create(name, ...)`` accepts, with their defaults."""
    parameters = inspect.signature(_lookup(name).__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def create(name: str, rng: random.Random | None = None, **settings: object) -> Balancer[Any]:
    """Build the algorithm called ``name`` (a key of ``ALGORITHMS``) with its options.

    An option the algorithm does not take is a ValueError that names it and lists the ones it
    does take; a bad value is a ValueError from the algorithm that names the option and a fix.
    """
    accepted = options(name)
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        takes = f"its options are {', '.join(accepted)}" if accepted else "it takes no options"
        raise ValueError(f"algorithm {name!r} has no option {unknown[0]!r}; {takes}")
    # Names are checked above; each class checks its values (mypy cannot see per-class signatures).
    return _lookup(name)(rng, **settings)  # type: ignore[arg-type]
