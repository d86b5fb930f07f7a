"""Response times per server, as histogram buckets the proxy fills on every request.

The proxy adds one to ``Server.latency_counts[bisect_left(LATENCY_BOUNDS, seconds)]`` when a
request ends: one bisect over a small tuple and one list increment, no lock (the loop thread
is the only writer) and no label lookup. Buckets are kept non-cumulative; the metrics
endpoint sums them into Prometheus' cumulative ``le`` buckets at scrape time, and the admin
API estimates percentiles from them (``quantile``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

# Upper bounds in seconds (Prometheus ``le``: a response of exactly 0.1s counts in the 0.1
# bucket, which bisect_left gives). The last count, past 10s, is the +Inf bucket.
LATENCY_BOUNDS: Final[tuple[float, ...]] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def empty_counts() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS) + 1)


def count_time(counts: list[int], seconds: float) -> None:
    """Add one time to ``counts`` (for the hot path's own requests this is written inline)."""
    counts[bisect_left(LATENCY_BOUNDS, seconds)] += 1


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q < 1) of the responses counted, in seconds, or None when none
    were. Estimated as Prometheus' ``histogram_quantile`` does: linearly within the bucket the
    rank falls in (from 0 for the first bucket); a rank in the +Inf bucket gives the largest
    finite bound, since nothing more is known."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            if index == len(LATENCY_BOUNDS):
                return LATENCY_BOUNDS[-1]
            lower = LATENCY_BOUNDS[index - 1] if index else 0.0
            upper = LATENCY_BOUNDS[index]
            return lower + (upper - lower) * (rank - below) / count
        below += count
    return LATENCY_BOUNDS[-1]  # not reached: the counts add up to total
