"""Rate limiting per key: NGINX's ``limit_req`` (rate, burst, nodelay, delay) as GCRA.

The generic cell rate algorithm keeps one number per key, the *theoretical arrival time*
(TAT): when the key's next request would be on time if it kept exactly to ``rate``. A
request at ``now`` is

- **rejected** when the TAT is more than ``burst`` intervals ahead of ``now`` (the bucket is
  full): the answer is 429, with ``Retry-After`` saying when one would be accepted;
- otherwise **accepted**, moving the TAT one interval on. As in NGINX, an accepted request
  beyond the rate waits until its slot (``delay`` seconds) unless ``nodelay`` is set, or
  until it is more than ``delay_after`` requests into the burst (NGINX's ``delay=N``).

One float per key, no timer: idle keys cost nothing until they are evicted. Keys are kept
at most ``max_keys`` (least recently seen go first), so a flood of client addresses cannot
grow memory without bound; a key evicted and seen again starts with a full burst, as if it
had been quiet, which is what it most likely was. Time comes from the caller.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    delay: float = 0.0  # seconds to hold an accepted request before passing it on
    retry_after: float = 0.0  # for a rejected one: seconds until one would be accepted


ALLOW = Decision(True)


class RateLimiter:
    def __init__(self, rate: float, *, burst: int = 0, nodelay: bool = False, delay_after: int = 0,
                 max_keys: int = 100_000) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        if burst < 0 or delay_after < 0 or max_keys < 1:
            raise ValueError("burst and delay_after must be >= 0 and max_keys >= 1")
        self.interval = 1.0 / rate
        self.burst = burst
        self.tolerance = burst * self.interval
        # Requests into the burst that pass at once: all with nodelay, else delay_after.
        self.free = burst if nodelay else min(delay_after, burst)
        self.max_keys = max_keys
        self.arrivals: OrderedDict[Hashable, float] = OrderedDict()  # key: theoretical arrival time
        self.refused_total = 0  # requests answered 429, for /metrics

    def same_settings(self, other: RateLimiter) -> bool:
        """Whether ``other`` limits exactly as this one does (so it may take over its counts)."""
        return ((self.interval, self.burst, self.free, self.max_keys)
                == (other.interval, other.burst, other.free, other.max_keys))

    def check(self, key: Hashable, now: float) -> Decision:
        arrivals = self.arrivals
        tat = arrivals.get(key)
        if tat is None or tat < now:
            tat = now
        ahead = tat - now  # how far into the burst this key already is, in seconds
        if ahead > self.tolerance + 1e-9:
            self.refused_total += 1
            return Decision(False, retry_after=ahead - self.tolerance)
        arrivals[key] = tat + self.interval
        arrivals.move_to_end(key)
        if len(arrivals) > self.max_keys:
            arrivals.popitem(last=False)
        if ahead <= self.free * self.interval + 1e-9:
            return ALLOW
        return Decision(True, delay=ahead - self.free * self.interval)

    def __len__(self) -> int:
        return len(self.arrivals)
