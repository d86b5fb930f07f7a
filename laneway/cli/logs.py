"""Logging for the command: to stderr, at the level ``--log-level`` names."""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str, *, process: str | None = None) -> None:
    """``process`` names the process in every line (``worker 1``) when there are several."""
    handler = logging.StreamHandler(sys.stderr)
    tag = f"[{process}] " if process else ""
    # Milliseconds: how long an ejection or a failover took is read from these lines.
    line = f"%(asctime)s.%(msecs)03d %(levelname)s {tag}%(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(line, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
