"""Exit codes scripts can rely on."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILURE = 1  # laneway could not do its job: a port in use, an error while running
    USAGE = 2  # the command line or the config is wrong; nothing was started (argparse uses 2 too)
