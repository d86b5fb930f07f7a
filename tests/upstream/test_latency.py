"""Percentiles estimated from latency buckets, as Prometheus' histogram_quantile does."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.upstream.latency import LATENCY_BOUNDS, empty_counts, quantile


def counts_of(latencies: list[float]) -> list[int]:
    counts = empty_counts()
    for latency in latencies:
        counts[bisect_left(LATENCY_BOUNDS, latency)] += 1
    return counts


def test_a_bound_counts_in_its_own_bucket() -> None:
    assert counts_of([0.1])[LATENCY_BOUNDS.index(0.1)] == 1  # Prometheus le: less or equal


def test_interpolates_within_the_bucket() -> None:
    counts = counts_of([0.06] * 4)  # all in (0.05, 0.1]
    assert quantile(counts, 0.5) == pytest.approx(0.075)
    assert quantile(counts_of([0.001] * 2), 0.5) == pytest.approx(0.0025)  # the first bucket starts at 0


def test_past_the_last_bound_gives_the_last_bound() -> None:
    assert quantile(counts_of([30.0]), 0.99) == LATENCY_BOUNDS[-1]


def test_nothing_counted_gives_none() -> None:
    assert quantile(empty_counts(), 0.5) is None


@given(st.lists(st.floats(min_value=0.0, max_value=9.9), min_size=1, max_size=50),
       st.floats(min_value=0.01, max_value=0.99))
def test_the_estimate_is_in_the_bucket_of_the_true_quantile(latencies: list[float], q: float) -> None:
    # The true value at rank ceil(q * n) lies in some bucket; the estimate lies in the same.
    ordered = sorted(latencies)
    rank = max(1, -(-q * len(ordered) // 1))
    true = ordered[int(rank) - 1]
    index = bisect_left(LATENCY_BOUNDS, true)
    lower = LATENCY_BOUNDS[index - 1] if index else 0.0
    estimate = quantile(counts_of(latencies), q)
    assert estimate is not None
    assert lower <= estimate <= LATENCY_BOUNDS[index]
