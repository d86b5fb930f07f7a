"""The README's quick start and what CI runs stay the same commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_lines() -> list[str]:
    """The command lines of the first ``sh`` block after the ``<!-- quick-start -->`` marker."""
    after = README.split("<!-- quick-start -->", 1)[1]
    match = re.search(r"^```sh\n(.*?)^```", after, re.DOTALL | re.MULTILINE)
    assert match is not None, "README.md: no ```sh block after <!-- quick-start -->"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_the_quick_start_is_two_command_lines_under_its_heading() -> None:
    assert README.index("## Quick start") < README.index("<!-- quick-start -->")
    first, second = quick_start_lines()
    assert first.endswith("laneway demo")
    assert "pip install" in first and "pip install" in second
    assert "'.[test]'" in second and second.endswith("-m pytest")


def test_ci_runs_the_readme_test_line_exactly() -> None:
    ci = ROOT / ".ci" / "run"
    result = subprocess.run([str(ci), "--print-test-command"], capture_output=True, text=True, check=True,
                            timeout=30)
    assert result.stdout.rstrip("\n") == quick_start_lines()[1]


def test_ci_is_executable_and_strict() -> None:
    ci = ROOT / ".ci" / "run"
    assert ci.stat().st_mode & 0o111
    assert "set -euo pipefail" in ci.read_text(encoding="utf-8")


def test_the_readme_names_the_files_it_points_to() -> None:
    for path in ("examples/laneway.yaml", "bench/README.md"):
        assert path in README
        assert (ROOT / path).exists(), path
