"""Logging for the command: to stderr, at the level ``--log-level`` names."""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Milliseconds: how long an ejection or a failover took is read from these lines.
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
