"""``laneway check -c FILE``: validate a config without starting anything."""

from __future__ import annotations

import argparse
import sys

from laneway.cli.exits import Exit
from laneway.config import Config, ConfigError, read_config_file


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "check", parents=[common], help="validate a config file and exit",
        description="Validate a config file. Prints 'FILE: ok' and a summary and exits 0, or prints "
                    "every problem (file, field path, what is wrong) to stderr and exits 2.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="the YAML config to check")
    parser.set_defaults(command=check)


def check(args: argparse.Namespace) -> Exit:
    config = read_config(args.config)
    if config is None:
        return Exit.USAGE
    print(f"{args.config}: ok")
    print(summary(config))
    return Exit.OK


def read_config(path: str, *, starting: bool = True) -> Config | None:
    """The config at ``path``, or ``None`` once every problem with it is printed to stderr."""
    read = read_config_and_text(path, starting=starting)
    return None if read is None else read[0]


def read_config_and_text(path: str, *, starting: bool = True) -> tuple[Config, str] | None:
    """``read_config``, with the file's text (which laneway's workers are sent)."""
    try:
        return read_config_file(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        count = len(error.problems)
        outcome = "nothing was started" if starting else "nothing was changed"
        print(f"{path}: {count} problem{'s' if count != 1 else ''}; {outcome}", file=sys.stderr)
        return None


def summary(config: Config) -> str:
    """One line: what the config would run, e.g. ``1 listener (web on 127.0.0.1:8080), ...``."""
    listeners = ", ".join(f"{listener.name} on {listener.bind}" for listener in config.listeners)
    routes = sum(len(listener.routes) for listener in config.listeners)
    pools = ", ".join(f"{name}: {plural(len(pool.servers), 'server')}" for name, pool in config.pools.items())
    return (f"{plural(len(config.listeners), 'listener')} ({listeners}), {plural(routes, 'route')}, "
            f"{plural(len(config.pools), 'pool')} ({pools})")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
