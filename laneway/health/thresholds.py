"""Rise and fall: when consecutive check results flip a server's health.

Theory of operation. A server is either up or down. Each check result either agrees with
that state (a pass while up, a failure while down) or contradicts it. Agreeing results reset
the count of contradicting ones; contradicting results are counted, and when ``fall`` of them
in a row contradict an up server it goes down, when ``rise`` in a row contradict a down server
it comes up (HAProxy's ``rise``/``fall``, Pingora's ``Health::observe_health``). Every result
is reported as a ``Transition`` (Envoy's ``HealthTransition``): the state did not move, moved,
or is on its way to moving without having reached the threshold.

This is pure: no clock, no I/O. The checker feeds it results and acts on ``CHANGED``.
"""

from __future__ import annotations

import enum


class Transition(enum.Enum):
    UNCHANGED = "unchanged"  # the result agrees with the state
    CHANGED = "changed"  # the threshold was reached: the state flipped with this result
    PENDING = "pending"  # the result contradicts the state, threshold not reached yet


class Thresholds:
    """The health state of one server under ``rise``/``fall``.

    A server starts UP: servers from the config are assumed up until checks prove them down,
    as HAProxy does, so a restarted balancer serves at once rather than after ``rise`` checks.
    """

    __slots__ = ("contrary", "fall", "rise", "up")

    def __init__(self, rise: int, fall: int, *, up: bool = True) -> None:
        if rise < 1 or fall < 1:
            raise ValueError(f"rise and fall must be >= 1, got rise={rise}, fall={fall}")
        self.rise = rise
        self.fall = fall
        self.up = up
        # Consecutive results that contradict ``up``; always below the threshold in force.
        self.contrary = 0

    @property
    def threshold(self) -> int:
        """How many contradicting results in a row flip the current state."""
        return self.fall if self.up else self.rise

    def observe(self, ok: bool) -> Transition:
        """Count one check result (``ok``: the check passed) and say what it did."""
        if ok == self.up:
            self.contrary = 0
            return Transition.UNCHANGED
        self.contrary += 1
        if self.contrary < self.threshold:
            return Transition.PENDING
        self.up = ok
        self.contrary = 0
        return Transition.CHANGED

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        return (f"Thresholds({state}, {self.contrary}/{self.threshold} contrary, "
                f"rise={self.rise}, fall={self.fall})")
