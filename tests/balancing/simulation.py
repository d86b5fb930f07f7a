"""A small discrete-event simulation: requests arrive on a fake clock, servers work FIFO.

Time is a float that only moves forward. Requests arrive every ``interval`` seconds; a server
works on ``workers`` requests at a time and queues the rest, each taking its ``service`` time.
Completions are a heap of finish times (``heapq``); before each arrival, every request that has
finished by then is reported to the balancer with ``on_end`` at its own finish time.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from laneway.balancing import NO_CONTEXT, Balancer
from tests.balancing.support import Server


@dataclass
class Outcome:
    picks: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def share(self, key: str) -> float:
        return self.picks[key] / sum(self.picks.values())

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def simulate(balancer: Balancer[Server], pool: list[Server], service: dict[str, float], *,
             interval: float, requests: int, workers: int = 1) -> Outcome:
    balancer.update(pool, 0.0)
    free_at = {server.key: [0.0] * workers for server in pool}
    finishing: list[tuple[float, int, Server, float]] = []
    outcome = Outcome()

    def finish_until(now: float) -> None:
        while finishing and finishing[0][0] <= now:
            finish, _, server, started = heapq.heappop(finishing)
            balancer.on_end(server, finish, finish - started, False)

    for k in range(requests):
        now = k * interval
        finish_until(now)
        target = balancer.pick(NO_CONTEXT, now)
        assert target is not None
        balancer.on_start(target, now)
        begin = max(now, heapq.heappop(free_at[target.key]))
        finish = begin + service[target.key]
        heapq.heappush(free_at[target.key], finish)
        heapq.heappush(finishing, (finish, k, target, now))
        outcome.picks[target.key] += 1
        outcome.latencies.append(finish - now)
    finish_until(float("inf"))
    return outcome
