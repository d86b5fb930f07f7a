"""docs/balancing.md: its example program runs, and its tables name every algorithm and option."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from laneway.balancing import ALGORITHMS, DEFAULT_ALGORITHM, options

DOC = (Path(__file__).resolve().parents[2] / "docs" / "balancing.md").read_text(encoding="utf-8")


def example() -> str:
    section = DOC.split("## Using the algorithms in your own program", 1)[1]
    match = re.search(r"^```python\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert match is not None, "docs/balancing.md: no ```python block in the example section"
    return match.group(1)


def test_the_example_program_balances_retries_and_keeps_its_books(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    def send(server: Any, request: bytes) -> bytes:
        sent.append(server.key)
        if server.key == "10.0.0.10:8080":
            raise ConnectionRefusedError("down")
        return b"ok " + request

    module = types.ModuleType("balancing_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look their module up
    namespace: dict[str, Any] = module.__dict__
    namespace["send"] = send
    exec(compile(example(), "docs/balancing.md", "exec", dont_inherit=True), namespace)
    assert [namespace["call"](b"x") for _ in range(6)] == [b"ok x"] * 6
    assert sent.count("10.0.0.10:8080") >= 1, "the first server was tried"
    assert set(sent) == {"10.0.0.10:8080", "10.0.0.11:8080", "10.0.0.12:8080"}
    balancer = namespace["balancer"]
    assert all(balancer.in_flight(server) == 0 for server in namespace["servers"])


def test_the_choosing_table_lists_every_algorithm_with_its_options_and_defaults() -> None:
    for name in ALGORITHMS:
        row = next((line for line in DOC.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"docs/balancing.md: no row for {name}"
        cells = row.split("|")[2]
        for option, default in options(name).items():
            shown = "0" if default == 0.0 else repr(default)
            assert f"{option}={shown}" in cells, f"{name}: {option}={shown} not in {cells!r}"
    assert f"`{DEFAULT_ALGORITHM}` **(default)**" in DOC
