"""Fixtures for the layer 4 tests: backends and a runtime with a tcp listener, stopped after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from laneway.tcp.splice import AVAILABLE as SPLICE_AVAILABLE
from tests.support.loop_thread import LoopThread
from tests.tcp.support import TcpBackend, TcpBalancer, start_tcp_balancer

Balancers = Callable[[dict[str, Any]], TcpBalancer]


@pytest.fixture
def tcp_backend(loop_thread: LoopThread) -> Iterator[Callable[..., TcpBackend]]:
    """A factory: ``tcp_backend("b0", "echo", ...)`` starts a ``TcpBackend`` on a free port."""
    started: list[TcpBackend] = []

    def start(name: str, behaviour: str = "echo", **options: Any) -> TcpBackend:
        backend = TcpBackend(name, behaviour, **options)
        loop_thread.run(backend.start())
        started.append(backend)
        return backend

    yield start
    for backend in started:
        loop_thread.run(backend.stop())


@pytest.fixture
def tcp_balancer(loop_thread: LoopThread) -> Iterator[Callable[[dict[str, Any]], TcpBalancer]]:
    """A factory: ``tcp_balancer(tcp_config(...))`` starts a runtime; it is shut down after."""
    started: list[TcpBalancer] = []

    def start(document: dict[str, Any]) -> TcpBalancer:
        running = start_tcp_balancer(loop_thread, document)
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.stopped:
            loop_thread.run(running.runtime.shutdown(grace=0.5), timeout=15.0)


@pytest.fixture(params=["splice", "transports"] if SPLICE_AVAILABLE else ["transports"])
def each_way_balancer(request: pytest.FixtureRequest, tcp_balancer: Balancers) -> Balancers:
    """``tcp_balancer``, run once with bytes moved by splice (where the system has it) and once
    through the asyncio transports (elsewhere, and for a connection whose first bytes did not
    all go out at once)."""

    def start(document: dict[str, Any]) -> TcpBalancer:
        running = tcp_balancer(document)
        running.listener.splice = request.param == "splice"
        return running

    return start
