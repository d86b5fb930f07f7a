"""``workers``: how many processes serve the traffic (docs/workers.md)."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, parse_config


def document(**top: object) -> dict[str, object]:
    return {"listeners": [{"name": "web", "bind": "127.0.0.1:8080", "routes": [{"pool": "api"}]}],
            "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}, **top}


def test_left_out_it_means_one_per_core() -> None:
    assert parse_config(document()).workers is None


@pytest.mark.parametrize("count", [1, 2, 256])
def test_a_count_of_processes(count: int) -> None:
    assert parse_config(document(workers=count)).workers == count


@pytest.mark.parametrize("value", [0, -1, 257, 1.5, "auto", True])
def test_anything_else_names_the_field_and_the_fix(value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document(workers=value), "laneway.yaml")
    assert raised.value.problems == [
        f"laneway.yaml: workers: must be a whole number of processes from 1 to 256, got {value!r}; "
        "leave workers out for one per core, or write 1 for a single process"]
