"""Fixtures for tests against real sockets: an event loop thread, backends, a balancer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.balancer import Balancer, start_balancer
from tests.support.loop_thread import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread().start()
    yield loop
    loop.stop()


@pytest.fixture
def balancer(loop_thread: LoopThread) -> Iterator[Callable[..., Balancer]]:
    """A factory: ``balancer(backends=1, listener={...}, pool={...})`` starts backends and a
    laneway runtime in front of them (see ``tests.support.balancer.start_balancer``); all
    are stopped when the test ends."""
    started: list[Balancer] = []

    def start(backends: int = 1, **options: Any) -> Balancer:
        running = start_balancer(loop_thread, backends, **options)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.stop()
