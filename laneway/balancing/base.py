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

An algorithm reads its targets' ``key`` and ``weight``; it never writes to them. Its books
(requests in flight, latency averages) are kept by ``key`` and survive ``update``: a request
that started before its target left the set still ends correctly, and a target that comes back
has the right count. ``on_end`` without a matching ``on_start`` is ignored, never negative.

Every algorithm honours ``PickContext.exclude`` (the targets a request already tried) whenever
another target may take the request; when every target is excluded it picks as if nothing were,
because a retry to the same server beats no server (the proxy decides whether to retry at all).

Slow start is implemented here, once: a weighted algorithm passes ``slow_start`` (seconds) to
``Balancer.__init__``, reads effective weights with ``_weight(target)``, calls ``_tick(now)``
at the top of ``pick`` and rebuilds what it must in ``_weights_changed``.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

from laneway.balancing.slow_start import STEPS, SlowStart


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
    """Everything a pick may depend on; any part may be empty (Envoy's LoadBalancerContext).

    ``client_address`` is read by ``ip_hash``, ``hash_key`` by ``hash``; the other algorithms
    read only ``exclude``, which may hold targets or their keys.
    """

    client_address: str | None = None
    hash_key: str | None = None
    # Targets already tried for this request: a retry must go elsewhere when it can.
    exclude: Collection[object] = field(default_factory=tuple)


NO_CONTEXT = PickContext()


def is_excluded(target: Target, exclude: Collection[object]) -> bool:
    """Whether ``exclude`` names ``target``, by the object or by its key."""
    return target in exclude or target.key in exclude


def check_number(algorithm: str, option: str, value: object, *, minimum: float,
                 inclusive: bool = True, hint: str = "") -> float:
    """``value`` as a float, or a ValueError that names the algorithm, the option and a fix."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{algorithm}: {option} must be a number, got {value!r}{hint}")
    number = float(value)
    too_small = number < minimum if inclusive else number <= minimum
    if too_small or math.isnan(number) or math.isinf(number):
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{algorithm}: {option} must be {relation} {minimum:g}, got {value!r}{hint}")
    return number


class Balancer(ABC, Generic[T]):
    """Base class: keeps the current targets and the slow-start ramp; subclasses choose."""

    name: ClassVar[str] = ""
    # Whether ``pick`` reads ``PickContext.client_address``: the proxy finds it out for the
    # algorithms that do and spares the others the allocation per client connection.
    reads_client_address: ClassVar[bool] = False

    def __init__(self, rng: random.Random | None = None, *, slow_start: float = 0.0) -> None:
        # Injected
        self.rng = rng if rng is not None else random.Random()
        # The targets that may take traffic, as last given to update()
        self.targets: tuple[T, ...] = ()
        # Slow start: None when off; _ramp_due is when the next step is due (inf: never)
        self.slow_start = check_number(self.name or type(self).__name__, "slow_start", slow_start,
                                       minimum=0.0, hint="; use seconds, e.g. 30, or 0 to turn it off")
        self._ramp: SlowStart | None = SlowStart(self.slow_start) if self.slow_start > 0 else None
        self._ramp_due = math.inf
        self._updated = False

    def update(self, targets: Sequence[T], now: float = 0.0) -> None:
        """Replace the set of targets that may take traffic."""
        previous = self.targets
        self.targets = tuple(targets)
        ramp = self._ramp
        if ramp is not None:
            keys = {target.key for target in self.targets}
            # The first set is where the pool starts, not a server coming back: no ramp.
            if self._updated:
                before = {target.key for target in previous}
                for key in keys - before:
                    ramp.start(key, now)
            for key in [key for key in ramp.since if key not in keys]:
                ramp.forget(key)
            ramp.advance(now)
            self._ramp_due = ramp.due
        self._updated = True

    @abstractmethod
    def pick(self, context: PickContext = NO_CONTEXT, now: float = 0.0) -> T | None:
        """Choose a target for one request, or ``None`` when there is none to choose."""

    def on_start(self, target: T, now: float = 0.0) -> None:
        """A request was sent to ``target``."""

    def on_end(self, target: T, now: float = 0.0, latency: float = 0.0, failed: bool = False) -> None:
        """A request to ``target`` ended after ``latency`` seconds."""

    # Slow start, for the weighted algorithms

    def _weight(self, target: Target) -> int:
        """``target``'s effective weight: its weight, scaled down while it ramps up.

        With slow start on, weights are on a scale of ``STEPS`` (full weight = weight * STEPS),
        so a ramping weight stays an integer and cross-multiplied comparisons stay exact.
        """
        ramp = self._ramp
        if ramp is None:
            return target.weight
        return target.weight * ramp.steps.get(target.key, STEPS)

    def _ramp_fraction(self, target: Target) -> float:
        """The share of its weight ``target`` has now, in (0, 1]."""
        ramp = self._ramp
        return 1.0 if ramp is None else ramp.fraction(target.key)

    def _tick(self, now: float) -> None:
        """Call at the top of ``pick``: moves ramps along when a step is due (one compare otherwise)."""
        if now >= self._ramp_due:
            ramp = self._ramp
            assert ramp is not None
            changed = ramp.advance(now)
            self._ramp_due = ramp.due
            if changed:
                self._weights_changed(changed, now)

    def _weights_changed(self, keys: list[str], now: float) -> None:
        """The effective weights of ``keys`` changed (a slow-start step); rebuild what depends on them."""
