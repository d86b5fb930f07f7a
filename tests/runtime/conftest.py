"""Fixtures for the worker process tests: two backends, and laneway with ``workers: 2``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.workers import Instance, config_text, started
from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread


@pytest.fixture
def backends(loop_thread: LoopThread) -> Iterator[list[Backend]]:
    running = [loop_thread.run(Backend(f"app{index}").start()) for index in range(2)]
    yield running
    for backend in running:
        loop_thread.run(backend.stop())


@pytest.fixture
def instance(tmp_path: Path, backends: list[Backend]) -> Iterator[Instance]:
    with started(tmp_path / "laneway.yaml", config_text(backends)) as running:
        yield running
