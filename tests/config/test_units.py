"""Durations (``2s``, ``500ms``) and sizes (``64KiB``) as the config spells them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.config.schema import PoolTimeouts
from laneway.config.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1.5m", 90.0), ("1h", 3600.0), ("0ms", 0.0), (" 10 s ", 10.0),
     (3, 3.0), (0.25, 0.25)],
)
def test_durations_parse(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2", "2 sec", "1e3s", "ms", "2S", "1d", "", "two seconds"])
def test_a_malformed_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration such as 2s or 500ms, got ") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("value", ["-1s", "-500ms", -1, -0.5])
def test_a_negative_duration_is_named_as_such(value: object) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False, None, [], {}])
def test_a_duration_of_the_wrong_type_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


def test_an_infinite_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_duration(float("inf"))


def test_the_same_time_in_different_units_is_the_same_float() -> None:
    # 0.001 * 1234567 in floats is not always the float nearest 1234.567; the config must not care.
    assert parse_duration("1234567ms") == parse_duration("1234.567s") == 1234.567


@given(st.integers(min_value=0, max_value=10**15))
def test_any_whole_number_of_milliseconds_renders_and_parses_back(millis: int) -> None:
    seconds = parse_duration(f"{millis}ms")
    assert seconds == millis / 1000
    rendered = format_duration(seconds)
    assert rendered.endswith("s")
    assert "e" not in rendered  # the config has no exponent notation
    assert parse_duration(rendered) == seconds


@given(st.integers(min_value=1, max_value=10**12))
def test_a_duration_survives_a_round_trip_through_the_schema(millis: int) -> None:
    timeouts = PoolTimeouts(connect=f"{millis}ms")  # type: ignore[arg-type]
    dumped = timeouts.model_dump()
    assert PoolTimeouts.model_validate(dumped) == timeouts


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_any_float_of_seconds_renders_and_parses_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [("64KiB", 64 * 1024), ("1MiB", 1024**2), ("2GiB", 2 * 1024**3), ("8k", 8192), ("10KB", 10_000),
     ("512", 512), ("512B", 512), (4096, 4096), ("0", 0)],
)
def test_sizes_parse(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["64 kibibytes", "1.5MiB", "KiB", "8kb", "", "1TiB"])
def test_a_malformed_size_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a size such as 64KiB or 1MiB, got ") as caught:
        parse_size(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("value", ["-1KiB", -1])
def test_a_negative_size_is_named_as_such(value: object) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_size(value)


@pytest.mark.parametrize("value", [True, 1.5, None])
def test_a_size_of_the_wrong_type_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(value)


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(["", "B", "KiB", "MiB", "GiB", "KB", "MB"]))
def test_any_size_in_any_unit_is_that_many_bytes(number: int, unit: str) -> None:
    factor = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2}[unit]
    assert parse_size(f"{number}{unit}") == number * factor
