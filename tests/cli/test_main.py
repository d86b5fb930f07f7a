"""The ``laneway`` command itself: version, help, usage errors and their exit codes."""

from __future__ import annotations

import pytest

from laneway import __version__
from tests.cli.process import laneway

SUBCOMMANDS = ["check", "run", "demo", "ctl"]


def test_version() -> None:
    result = laneway("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"laneway {__version__} (hot path: pure Python)", (
        "tests run an editable install, which is never compiled (setup.py)")


def test_help_lists_every_subcommand_and_the_exit_codes() -> None:
    result = laneway("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in result.stdout
    assert "Exit codes: 0 ok, 1 failure" in result.stdout
    assert "--log-level" in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str) -> None:
    result = laneway(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: laneway {name} ")
    assert "--log-level" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("name", ["check", "run"])
def test_check_and_run_need_a_config(name: str) -> None:
    result = laneway(name)
    assert result.returncode == 2
    assert "the following arguments are required: -c/--config" in result.stderr


def test_no_subcommand_prints_help_and_exits_2() -> None:
    result = laneway()
    assert result.returncode == 2
    assert "usage: laneway" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["--log-level", "loud", "check", "-c", "x"], ["demo", "--port", "70000"],
     ["demo", "--port", "eighty"], ["check", "-c", "x", "--unknown"]],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = laneway(*args)
    assert result.returncode == 2
    assert "usage: laneway" in result.stderr


def test_the_log_level_is_accepted_before_and_after_the_subcommand() -> None:
    for args in (["--log-level", "debug", "check"], ["check", "--log-level", "debug"]):
        result = laneway(*args, "-c", "examples/laneway.yaml")
        assert result.returncode == 0, result.stderr
