"""Active health checks of one pool: a task per server, probing every ``interval``.

Each server's task sleeps, probes, feeds the result to the server's ``Thresholds`` and, when
the state flips, calls ``pool.set_up`` (the one place a server's health changes) and logs
why. Checks are tasks on the event loop, awaiting sockets like any connection: they never
hold up a request.

Timing. Checks of one server start ``interval`` apart, each interval stretched or shrunk by
up to ``jitter`` (a fraction) at random, as HAProxy's ``spread-checks`` does; the servers'
first checks are spread evenly over the first interval, so N servers are not probed in the
same instant and do not drift back into step. A check lasts at most the probe's timeout.
So a server that dies is marked down within about ``fall`` intervals plus one timeout
(plus jitter), and one that recovers is marked up within about ``rise`` intervals.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from laneway.health.probes import Probe, ProbeResult
from laneway.health.thresholds import Thresholds, Transition
from laneway.upstream import MAINTENANCE, Pool, Server

log = logging.getLogger("laneway.health")


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """The last check of a server, for operators: what it found, when, how long it took."""

    ok: bool
    reason: str
    at: float  # wall-clock time (``clock``) when the check ended
    duration: float  # seconds from start to result


class HealthChecker:
    """``start()`` probes every server of ``pool`` until ``await stop()``."""

    def __init__(self, pool: Pool, probe: Probe, *, interval: float = 2.0, rise: int = 2, fall: int = 3,
                 jitter: float = 0.1, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be a fraction 0-1 of interval, got {jitter}")
        # Settings
        self.pool = pool
        self.probe = probe
        self.interval = interval
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.clock = clock
        # Per-server state, keyed by server key. Servers start in the state they have (up,
        # unless something else said otherwise): checks must prove a change.
        self.rise = rise
        self.fall = fall
        self.states = {server.key: Thresholds(rise, fall, up=server.up) for server in pool.servers}
        self.last_check: dict[str, CheckRecord] = {}
        # Running tasks, by server key
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start a task per server (call on the running loop)."""
        if self._tasks:
            return
        servers = self.pool.servers
        for index, server in enumerate(servers):
            # Server i's first check falls at a random point of the i-th of n equal slices
            # of the first interval.
            first = self.interval * (index + self.rng.random()) / len(servers)
            self._start_task(server, first)

    def _start_task(self, server: Server, first: float) -> None:
        self._tasks[server.key] = asyncio.get_running_loop().create_task(
            self._run(server, first), name=f"health {self.pool.name} {server.key}")

    def add(self, server: Server) -> None:
        """Check a server added to the pool while running. It stays as it is (up) until
        ``fall`` checks fail, as the servers present at start did."""
        self.states[server.key] = Thresholds(self.rise, self.fall, up=server.up)
        if self._tasks:
            self._start_task(server, self.interval * self.rng.random())

    def remove(self, server: Server) -> None:
        """Stop checking a server taken out of the pool."""
        task = self._tasks.pop(server.key, None)
        if task is not None:
            task.cancel()
        self.states.pop(server.key, None)
        self.last_check.pop(server.key, None)

    async def stop(self) -> None:
        """Cancel every check, in progress or waiting, and wait until they are gone."""
        tasks = list(self._tasks.values())
        self._tasks = {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def next_delay(self) -> float:
        """The time from one check's start to the next: ``interval`` +/- ``jitter``."""
        return self.interval * (1.0 + self.rng.uniform(-self.jitter, self.jitter))

    async def _run(self, server: Server, first: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + first
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            started = loop.time()
            due = started + self.next_delay()
            if server.state == MAINTENANCE:
                continue  # the operator took it out: no checks until it is back
            result = await self._check(server)
            self.observe(server, result, loop.time() - started)

    async def _check(self, server: Server) -> ProbeResult:
        try:
            return await self.probe.check(server)
        except Exception as error:  # a probe's own bug must not end the server's checks
            log.exception("pools.%s server %s: health check failed unexpectedly", self.pool.name, server.key)
            return ProbeResult(False, f"check error: {type(error).__name__}")

    def observe(self, server: Server, result: ProbeResult, duration: float = 0.0) -> Transition:
        """Record one result for ``server`` and act on the transition it causes."""
        self.last_check[server.key] = CheckRecord(result.ok, result.reason, self.clock(), duration)
        state = self.states[server.key]
        transition = state.observe(result.ok)
        if transition is Transition.CHANGED:
            server.owner.set_up(server, state.up)
            if state.up:
                log.info("pools.%s server %s is UP after %d passed checks: %s",
                         self.pool.name, server.key, state.rise, result.reason)
            else:
                log.warning("pools.%s server %s is DOWN after %d failed checks: %s",
                            self.pool.name, server.key, state.fall, result.reason)
        elif transition is Transition.PENDING:
            log.debug("pools.%s server %s check %s (%d/%d towards %s): %s", self.pool.name, server.key,
                      "passed" if result.ok else "failed", state.contrary, state.threshold,
                      "down" if state.up else "up", result.reason)
        return transition
