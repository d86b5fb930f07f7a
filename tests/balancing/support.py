"""Test targets and drivers shared by the balancing tests: plain values, a fake clock as floats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from laneway.balancing import NO_CONTEXT, Balancer, PickContext


@dataclass(frozen=True)
class Server:
    """The least a target is: a key and a weight (``upstream.Server`` has more)."""

    key: str
    weight: int = 1


def servers(*weights: int) -> list[Server]:
    """``s0``, ``s1``, ... with the given weights."""
    return [Server(f"s{i}", weight) for i, weight in enumerate(weights)]


class CountingServer:
    """A target that counts how often an algorithm reads it, to show a pick is not a scan."""

    reads = 0

    def __init__(self, key: str, weight: int = 1) -> None:
        self._key = key
        self._weight = weight

    @property
    def key(self) -> str:
        CountingServer.reads += 1
        return self._key

    @property
    def weight(self) -> int:
        CountingServer.reads += 1
        return self._weight


def sequential(balancer: Balancer[Server], count: int, *, start: float = 0.0, step: float = 0.0,
               latency: float = 0.0, context: PickContext = NO_CONTEXT) -> list[str]:
    """``count`` requests one after the other, each ending before the next starts; their keys."""
    keys = []
    for k in range(count):
        now = start + k * step
        target = balancer.pick(context, now)
        assert target is not None
        balancer.on_start(target, now)
        balancer.on_end(target, now + latency, latency, False)
        keys.append(target.key)
    return keys


def longest_run(keys: Iterable[str], key: str) -> int:
    best = run = 0
    for k in keys:
        run = run + 1 if k == key else 0
        best = max(best, run)
    return best
