"""The one interface every balancing algorithm implements.

Contract (see DESIGN.md, "balancing"): an algorithm is a pure object. It does no I/O, has no
clock of its own (``now`` is passed in, in seconds from any monotonic origin) and draws
randomness only from the ``random.Random`` it was given. The proxy, a Python program
balancing its own outgoing calls, the tests and a simulator all drive it the same way:

1. ``update(targets, now)`` with the targets that may take traffic, again whenever that set
   or a weight changes (health, drain, admin). Backups are not the algorithm's business: the
   pool hands it its backups only when no primary may take traffic.
2. ``pick(context, now)`` for each request; ``None`` when no target may be chosen.
3. ``on_start(target, now)`` when a request is sent to the target and ``on_end(target, now,
   latency, failed)`` when it ends, so load-aware algorithms can keep their books.

An algorithm reads its targets' ``key`` and ``weight``; it never writes to them.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Target(Protocol):
    """What an algorithm may read of a server."""

    @property
    def key(self) -> str:
        """A stable identity, e.g. ``"10.0.0.10:8080"``; consistent hashing hashes it."""
        ...

    @property
    def weight(self) -> int:
        """The configured weight, >= 1."""
        ...


T = TypeVar("T", bound=Target)


@dataclass(slots=True)
class PickContext:
    """Everything a pick may depend on; any part may be empty (Envoy's LoadBalancerContext)."""

    client_address: str | None = None
    hash_key: str | None = None
    # Targets already tried for this request: a retry must go elsewhere when it can.
    exclude: Collection[object] = field(default_factory=tuple)


NO_CONTEXT = PickContext()


class Balancer(ABC, Generic[T]):
    """Base class: keeps the current targets; subclasses choose among them."""

    name: str = ""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()
        self.targets: tuple[T, ...] = ()

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        """Replace the set of targets that may take traffic."""
        self.targets = tuple(targets)

    @abstractmethod
    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        """Choose a target for one request, or ``None`` when there is none to choose."""

    def on_start(self, target: T, now: float = 0.0) -> None:  # noqa: B027 - optional hook
        """A request was sent to ``target``."""

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:  # noqa: B027
        """A request to ``target`` ended after ``latency`` seconds."""
