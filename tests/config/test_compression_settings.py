"""Route compression settings: the shorthand, the defaults and the bounds."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, parse_config


def document(compression: Any) -> dict[str, Any]:
    return {"listeners": [{"name": "web", "bind": "127.0.0.1:8080",
                           "routes": [{"pool": "api", "compression": compression}]}],
            "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}}


def test_true_takes_the_defaults() -> None:
    settings = parse_config(document(True)).listeners[0].routes[0].compression
    assert settings is not None
    assert (settings.level, settings.brotli_quality, settings.min_length) == (5, 4, 1024)
    assert "application/json" in settings.types
    assert parse_config(document(False)).listeners[0].routes[0].compression is None


def test_settings_are_read() -> None:
    settings = parse_config(document({"types": ["Text/HTML"], "min_length": "2KiB", "level": 9,
                                      "brotli_quality": 0})).listeners[0].routes[0].compression
    assert settings is not None
    assert (settings.types, settings.min_length, settings.level, settings.brotli_quality) == (
        ["text/html"], 2048, 9, 0)


@pytest.mark.parametrize(("compression", "expected"), [
    ({"brotli_quality": 12}, "compression.brotli_quality: must be <= 11, got 12"),
    ({"brotli_quality": -1}, "compression.brotli_quality: must be >= 0, got -1"),
    ({"level": 0}, "compression.level: must be >= 1, got 0"),
    ({"types": ["text/html; charset=utf-8"]}, "compression.types: a media type is type/subtype without "
     "parameters, e.g. text/html, got ['text/html; charset=utf-8']"),
    ({"brotli": True}, "compression.brotli: unknown key; did you mean 'brotli_quality'? known keys: types, "
     "min_length, level, brotli_quality"),
])
def test_bad_settings_are_refused(compression: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(compression), "site.yaml")
    assert caught.value.problems == [f"site.yaml: listeners[0].routes[0].{expected}"]
