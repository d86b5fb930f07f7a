"""Durations (``2s``, ``500ms``) and sizes (``64KiB``) as they are written in the config."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
# Decimal, so that "1234567ms" and "1234.567s" are the same float: the number is scaled exactly
# and rounded once (0.001 * 1234567 in floats rounds twice and can differ in the last bit).
_DURATION_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "k": 1024, "K": 1024, "M": 1024**2, "G": 1024**3,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3,
}


def parse_duration(value: object) -> float:
    """Seconds from ``"2s"``, ``"500ms"``, ``"1.5m"``, ``"1h"`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 2s or 500ms, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(Decimal(match.group(1)) * _DURATION_UNITS[match.group(2)])
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"a duration must not be negative, got {value!r}")
    else:
        raise ValueError(f"expected a duration such as 2s or 500ms, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration must not be negative, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite number of seconds, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The config spelling of ``seconds`` that ``parse_duration`` reads back exactly.

    ``repr`` is the shortest text that round-trips a float; Decimal writes it out without an
    exponent (``1e-05`` would not parse), and a whole number of seconds loses its ``.0``.
    """
    text = format(Decimal(repr(float(seconds))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"


def parse_size(value: object) -> int:
    """Bytes from ``"64KiB"``, ``"1MiB"``, ``"8k"`` or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 64KiB or 1MiB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"a size must not be negative, got {value!r}")
    else:
        raise ValueError(f"expected a size such as 64KiB or 1MiB, got {value!r}")
    if size < 0:
        raise ValueError(f"a size must not be negative, got {value!r}")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
