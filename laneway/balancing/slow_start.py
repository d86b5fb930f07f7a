"""Slow start: a target that (re)appears ramps up to its full weight over a window.

A server that was just added, or has just come back from being down, has cold caches, an
empty connection pool and perhaps a JIT to warm; at full weight it would get its whole share at
once and, under least connections, every new request until it caught up (HAProxy
``slowstart``, NGINX ``slow_start``, Envoy ``slow_start_config``).

The ramp is linear and goes in ``STEPS`` steps: the effective weight is ``weight * step`` on a
scale where ``STEPS`` is full, so it starts at 1/``STEPS`` of the weight. Steps, not a smooth
curve, because algorithms that keep a structure ordered by weight (the smooth weighted round
robin's groups, the least-connections heap) must rebuild a little at each change; with steps
they do so ``STEPS - 1`` times per ramp, whatever the request rate.

This helper only keeps the books: who ramps since when, at which step, and when the next step
is due. ``Balancer`` owns one when ``slow_start > 0`` and tells the algorithm when weights change.
"""

from __future__ import annotations

import math

# The ramp's resolution: the first step is 1/STEPS of the weight, the last is the full weight.
STEPS = 10


class SlowStart:
    """Which targets are ramping up, and how far along each one is."""

    __slots__ = ("due", "since", "steps", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        # Ramping targets only: key -> when it (re)appeared, and its current step (1..STEPS-1).
        self.since: dict[str, float] = {}
        self.steps: dict[str, int] = {}
        # The earliest time at which some target's step changes; inf when nothing ramps.
        self.due = math.inf

    def start(self, key: str, now: float) -> None:
        """``key`` just appeared: it starts at the first step."""
        self.since[key] = now
        self.steps[key] = 1
        self.due = min(self.due, self._boundary(now, 1))

    def forget(self, key: str) -> None:
        """``key`` left the set of targets; if it comes back it ramps again from the start."""
        self.since.pop(key, None)
        self.steps.pop(key, None)

    def fraction(self, key: str) -> float:
        """The share of its weight ``key`` has now, in (0, 1]."""
        return self.steps.get(key, STEPS) / STEPS

    def _boundary(self, since: float, step: int) -> float:
        # Step k lasts from since + (k-1)*window/(STEPS-1) until since + k*window/(STEPS-1):
        # steps 1..STEPS-1 share the window and the weight is full exactly at its end.
        return since + self.window * step / (STEPS - 1)

    def advance(self, now: float) -> list[str]:
        """Move every ramping target to its step at ``now``; return the keys whose step changed."""
        changed = []
        due = math.inf
        for key, since in list(self.since.items()):
            old = step = self.steps[key]
            # Computed with the same formula as ``due`` so a step never sticks at its boundary.
            while step < STEPS and self._boundary(since, step) <= now:
                step += 1
            if step != old:
                changed.append(key)
            if step >= STEPS:
                del self.since[key], self.steps[key]
            else:
                self.steps[key] = step
                due = min(due, self._boundary(since, step))
        self.due = due
        return changed
