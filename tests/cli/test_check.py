"""``laneway check``: 0 and a summary for a good config, 2 and every problem for a bad one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli.process import COMMAND, ROOT, environment, laneway

BAD = """\
listeners:
  - name: web
    bind: 127.0.0.1:8080
    routes: [{pool: api}, {pool: nowhere}]
pools:
  api:
    servers:
      - {address: 127.0.0.1:9001}
      - {address: 127.0.0.1:9002}
      - {address: 127.0.0.1:9003, weight: 0}
    timeouts: {conect: 1s}
"""


def test_the_example_config_is_ok() -> None:
    result = laneway("check", "-c", "examples/laneway.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "examples/laneway.yaml: ok",
        "2 listeners (web on 127.0.0.1:8080, postgres on 127.0.0.1:6432), 11 routes, "
        "3 pools (api: 3 servers, db: 2 servers, web: 2 servers)",
    ]


def test_a_bad_config_prints_every_problem_with_file_and_field_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    result = laneway("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"{path}: pools.api.servers[2].weight: must be >= 1, got 0" in lines
    assert any(line.startswith(f"{path}: pools.api.timeouts.conect: unknown key; did you mean 'connect'?")
               for line in lines)
    assert any(line.startswith(f"{path}: listeners[0].routes[1].pool: no pool is named 'nowhere'")
               for line in lines)
    assert lines[-1] == f"{path}: 3 problems; nothing was started"
    assert "Traceback" not in result.stderr


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("listeners:\n  - name: web\n   bind: x\n", encoding="utf-8")
    result = laneway("check", "-c", str(path))
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}: line 3, column 4: not valid YAML: "), first
    assert first.endswith("(while parsing a block collection at line 2, column 3)"), first


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    result = laneway("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"{path}: cannot read the file: No such file or directory"


def test_an_empty_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    result = laneway("check", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: the file is empty" in result.stderr


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    # `laneway check -c FILE | head -1`: the pipe closes before laneway writes its summary.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([*COMMAND, "check", "-c", "examples/laneway.yaml"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, env=environment(), timeout=30)
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr, result.stderr
