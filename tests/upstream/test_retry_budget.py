"""The retry budget: retries over the window are a share of the first tries, plus a floor
per second, and the window moves on once a second."""

from __future__ import annotations

import pytest

from laneway.upstream import RetryBudget


def spend_all(budget: RetryBudget, requests_total: int) -> int:
    spent = 0
    while budget.allows(requests_total + spent) and spent < 10_000:
        budget.spend()
        spent += 1
    return spent


def test_retries_are_a_share_of_first_tries() -> None:
    budget = RetryBudget(percent=20, min_per_second=0)
    # Retries count as requests too: 100 first tries and r retries are 100 + r requests.
    assert spend_all(budget, 100) == 20


def test_the_floor_lets_a_quiet_pool_retry() -> None:
    budget = RetryBudget(percent=20, min_per_second=3)
    assert spend_all(budget, 0) == 3


def test_a_burst_of_failures_is_paid_for_by_the_traffic_before_it() -> None:
    budget = RetryBudget(percent=20, min_per_second=0, window=10)
    requests = 0
    for _ in range(9):
        requests += 1000
        budget.tick(requests)
    # A third of one second's 1000 requests fail at once: all of them may be retried.
    assert spend_all(budget, requests) >= 333


def test_old_traffic_leaves_the_window() -> None:
    budget = RetryBudget(percent=20, min_per_second=0, window=3)
    budget.tick(10_000)  # a busy second long ago
    for _ in range(3):
        budget.tick(10_000)  # quiet seconds since
    assert not budget.allows(10_000)
    assert spend_all(budget, 10_100) == 20


def test_retries_spent_leave_the_window_too() -> None:
    budget = RetryBudget(percent=10, min_per_second=0, window=2)
    assert spend_all(budget, 100) == 10
    budget.tick(110)
    budget.tick(110)
    assert not budget.allows(110)
    assert spend_all(budget, 210) == 10


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        RetryBudget(window=0)
