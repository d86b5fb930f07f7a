"""The back-off before a dead worker is started again."""

from __future__ import annotations

from laneway.runtime.restarts import RestartBackoff


def test_a_worker_that_ran_a_while_is_started_again_at_once() -> None:
    backoff = RestartBackoff(first=0.5, longest=30, healthy_after=10)
    assert backoff.delay(lived=3600) == 0.0
    assert backoff.delay(lived=10) == 0.0


def test_short_lives_in_a_row_double_the_wait_up_to_the_longest() -> None:
    backoff = RestartBackoff(first=0.5, longest=4, healthy_after=10)
    assert [backoff.delay(lived=0.1) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_long_life_clears_the_count() -> None:
    backoff = RestartBackoff(first=0.5, longest=30, healthy_after=10)
    backoff.delay(lived=1)
    backoff.delay(lived=1)
    assert backoff.delay(lived=60) == 0.0
    assert backoff.delay(lived=1) == 0.5
