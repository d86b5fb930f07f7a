"""The stick table: entries renewed on use, forgotten after ``expire`` without it, never more
than ``max_entries`` (least recently used first out); time comes from the caller."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.policies import StickTable


def test_an_entry_is_kept_while_used_within_expire() -> None:
    table = StickTable(expire=60.0, max_entries=10)
    table.put(b"a", "s1", 0.0)
    for now in (50.0, 100.0, 150.0):
        assert table.get(b"a", now) == "s1"
    assert table.get(b"a", 210.0) == "s1", "exactly expire after its last use is still in time"
    assert table.get(b"a", 270.1) is None
    assert len(table) == 0, "an expired entry found is dropped"


def test_storing_drops_expired_entries_from_the_front() -> None:
    table = StickTable(expire=10.0, max_entries=10)
    for index, key in enumerate((b"a", b"b", b"c")):
        table.put(key, "s", float(index))
    table.put(b"d", "s", 11.5)  # a (0) and b (1) are over 10s old, c (2) is not
    assert list(table.entries) == [b"c", b"d"]


def test_the_least_recently_used_makes_room() -> None:
    table = StickTable(expire=1000.0, max_entries=2)
    table.put(b"a", "s1", 0.0)
    table.put(b"b", "s2", 1.0)
    assert table.get(b"a", 2.0) == "s1"  # a is now the most recently used
    table.put(b"c", "s3", 3.0)
    assert table.get(b"b", 4.0) is None
    assert (table.get(b"a", 4.0), table.get(b"c", 4.0)) == ("s1", "s3")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="expire must be > 0"):
        StickTable(expire=0.0, max_entries=1)
    with pytest.raises(ValueError, match="max_entries >= 1"):
        StickTable(expire=1.0, max_entries=0)


@given(st.integers(min_value=1, max_value=8),
       st.lists(st.tuples(st.integers(0, 20), st.floats(0.0, 30.0), st.booleans()), max_size=200))
def test_never_above_the_cap_and_never_an_expired_answer(cap: int,
                                                         steps: list[tuple[int, float, bool]]) -> None:
    """Against a model that remembers everything: the table answers what the model says,
    or nothing (evicted), never an entry older than expire, and holds at most ``cap``."""
    table = StickTable(expire=5.0, max_entries=cap)
    model: dict[bytes, tuple[str, float]] = {}
    now = 0.0
    for key_number, step, store in steps:
        now += step / 10  # time only moves forward
        key = b"%d" % key_number
        if store:
            table.put(key, f"s{key_number}{now}", now)
            model[key] = (f"s{key_number}{now}", now)
        else:
            found = table.get(key, now)
            if found is not None:
                assert key in model and found == model[key][0]
                assert now - model[key][1] <= 5.0
                model[key] = (found, now)
        assert len(table) <= cap
