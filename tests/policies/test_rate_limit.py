"""The rate limiter against NGINX's limit_req semantics, with an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.policies.rate_limit import RateLimiter


def test_without_burst_one_request_per_interval() -> None:
    limiter = RateLimiter(rate=10)
    assert limiter.check("a", 0.0).allowed
    rejected = limiter.check("a", 0.05)
    assert not rejected.allowed
    assert rejected.retry_after == pytest.approx(0.05)
    assert limiter.check("a", 0.1).allowed


def test_keys_are_limited_apart() -> None:
    limiter = RateLimiter(rate=1)
    assert limiter.check("a", 0.0).allowed
    assert limiter.check("b", 0.0).allowed
    assert not limiter.check("a", 0.0).allowed


def test_burst_is_delayed_to_the_rate_unless_nodelay() -> None:
    limiter = RateLimiter(rate=10, burst=3)
    decisions = [limiter.check("a", 0.0) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [round(d.delay, 3) for d in decisions[:4]] == [0.0, 0.1, 0.2, 0.3]
    fast = RateLimiter(rate=10, burst=3, nodelay=True)
    decisions = [fast.check("a", 0.0) for _ in range(5)]
    assert [(d.allowed, d.delay) for d in decisions] == [(True, 0.0)] * 4 + [(False, 0.0)]


def test_delay_after_passes_the_first_of_a_burst_at_once() -> None:
    limiter = RateLimiter(rate=10, burst=4, delay_after=2)
    delays = [round(limiter.check("a", 0.0).delay, 3) for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_keys_tracked_are_capped_least_recent_first() -> None:
    limiter = RateLimiter(rate=1, max_keys=3)
    for key in "abcd":
        limiter.check(key, 0.0)
    assert len(limiter) == 3 and "a" not in limiter.arrivals
    assert limiter.check("a", 0.0).allowed, "an evicted key starts afresh"


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=300),
       st.floats(min_value=0.5, max_value=50), st.integers(min_value=0, max_value=20))
def test_never_more_than_rate_times_time_plus_burst(times: list[float], rate: float, burst: int) -> None:
    limiter = RateLimiter(rate=rate, burst=burst, nodelay=True)
    times.sort()
    accepted = [t for t in times if limiter.check("k", t).allowed]
    span = accepted[-1] - accepted[0] if accepted else 0.0
    assert len(accepted) <= rate * span + burst + 1 + 1e-6


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=-1)
