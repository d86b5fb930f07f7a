"""The ``laneway`` command line: parse the arguments, set up logging, run one subcommand.

Exit codes (``exits.Exit``): 0 done, 1 laneway failed while starting or running, 2 the
command line or the config is wrong and nothing was started.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from laneway import __version__
from laneway.cli import check, ctl, demo, run
from laneway.cli.exits import Exit
from laneway.cli.logs import LEVELS, configure_logging
from laneway.runtime.server import hot_path_build

log = logging.getLogger("laneway")

Command = Callable[[argparse.Namespace], Exit]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laneway",
        description="laneway: a load balancer. Layer 7 (HTTP/1.1) reverse proxy over pools of servers.",
        epilog="Exit codes: 0 ok, 1 failure while starting or running, 2 bad command line or config.")
    parser.add_argument("--version", action="version",
                        version=f"laneway {__version__} (hot path: {hot_path_build()})")
    add_log_level(parser, default="info")
    # The same option after the subcommand; SUPPRESS keeps it from hiding one given before it.
    common = argparse.ArgumentParser(add_help=False)
    add_log_level(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (check, run, demo, ctl):
        module.add_parser(commands, common)
    return parser


def add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--log-level", choices=LEVELS, default=default,
                        help="what to log to stderr (default: info)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return Exit.USAGE
    configure_logging(args.log_level)
    try:
        return command(args)
    except KeyboardInterrupt:
        # Only before the signal handlers are in place; after that Ctrl-C is a clean stop.
        return Exit.OK
    except BrokenPipeError:
        # The reader went away (`laneway check ... | head -1`): not an error of laneway's.
        # Point stdout at /dev/null so that flushing it at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except Exception:
        log.exception("laneway stopped on an unexpected error")
        return Exit.FAILURE


if __name__ == "__main__":
    sys.exit(main())
