"""Rise and fall: a server flips exactly at the threshold, never otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.health import Thresholds, Transition


def test_a_server_starts_up() -> None:
    state = Thresholds(rise=2, fall=3)
    assert state.up and state.contrary == 0 and state.threshold == 3


def test_the_chapters_timeline() -> None:
    # fall 3: two failures are pending, the third marks it down; rise 2: likewise back up.
    state = Thresholds(rise=2, fall=3)
    observed = [state.observe(ok) for ok in (True, False, False, False, False, True, True, True)]
    assert observed == [Transition.UNCHANGED, Transition.PENDING, Transition.PENDING, Transition.CHANGED,
                        Transition.UNCHANGED, Transition.PENDING, Transition.CHANGED, Transition.UNCHANGED]
    assert state.up


def test_an_agreeing_result_resets_the_count() -> None:
    state = Thresholds(rise=2, fall=3)
    for ok in (False, False, True, False, False, True):
        assert state.observe(ok) is not Transition.CHANGED
    assert state.up
    down = Thresholds(rise=2, fall=3, up=False)
    assert [down.observe(ok) for ok in (True, False, True, True)] == [
        Transition.PENDING, Transition.UNCHANGED, Transition.PENDING, Transition.CHANGED]


def test_thresholds_of_one_flip_on_every_contrary_result() -> None:
    state = Thresholds(rise=1, fall=1)
    assert [state.observe(ok) for ok in (False, False, True, True)] == [
        Transition.CHANGED, Transition.UNCHANGED, Transition.CHANGED, Transition.UNCHANGED]


def test_thresholds_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="rise and fall must be >= 1, got rise=0, fall=3"):
        Thresholds(rise=0, fall=3)


@given(rise=st.integers(1, 6), fall=st.integers(1, 6), start_up=st.booleans(),
       results=st.lists(st.booleans(), max_size=60))
def test_flips_exactly_after_fall_failures_or_rise_passes(rise: int, fall: int, start_up: bool,
                                                          results: list[bool]) -> None:
    state = Thresholds(rise=rise, fall=fall, up=start_up)
    up = start_up
    since_flip = 0  # results observed since the last flip (or the start)
    for index, ok in enumerate(results):
        transition = state.observe(ok)
        since_flip += 1
        # The run of identical results ending here, counted only since the last flip: a
        # result before a flip belonged to the old state and never counts towards the next.
        run = 0
        while run < since_flip and results[index - run] == ok:
            run += 1
        needed = fall if up else rise
        should_flip = ok != up and run == needed
        assert (transition is Transition.CHANGED) == should_flip, (index, results[:index + 1])
        if should_flip:
            up = ok
            since_flip = 0
        elif ok != up:
            assert transition is Transition.PENDING and run < needed
        else:
            assert transition is Transition.UNCHANGED
        assert state.up == up
        assert 0 <= state.contrary < state.threshold
