"""Fixtures: a laneway runtime in front of real backends, with its admin listener on a
free port of 127.0.0.1, all on the test's event loop thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from laneway.admin import AdminServer
from tests.support.balancer import Balancer, wait_for
from tests.support.loop_thread import LoopThread

TOKEN = "test-admin-token-0123456789"


@dataclass
class Admin:
    running: Balancer
    server: AdminServer

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = TOKEN, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0, trust_env=False, **options)

    def get(self, path: str, token: str | None = TOKEN) -> httpx.Response:
        with self.client(token) as client:
            return client.get(path)

    def pool(self, name: str = "p") -> Any:
        return self.running.runtime.pools[name]


@pytest.fixture
def admin(balancer: Callable[..., Balancer], loop_thread: LoopThread) -> Iterator[Callable[..., Admin]]:
    """A factory: ``admin(backends=2, admin_config={...}, pool={...})`` starts backends, laneway
    and its admin listener (token ``TOKEN`` unless ``admin_config`` says otherwise)."""
    started: list[AdminServer] = []

    def start(backends: int = 1, *, admin_config: dict[str, Any] | None = None,
              top: dict[str, Any] | None = None, **options: Any) -> Admin:
        settings = {"bind": "127.0.0.1:0", "token": TOKEN, **(admin_config or {})}
        running = balancer(backends, top={"admin": settings, **(top or {})}, **options)
        config = running.runtime.config.admin
        assert config is not None
        server = AdminServer(running.runtime, config, environ={})
        loop_thread.run(server.start())
        started.append(server)
        return Admin(running, server)

    yield start
    for server in reversed(started):
        loop_thread.run(server.stop())


class Traffic:
    """GETs sent one after another through laneway from a thread while a test steers it;
    bounded in count and in time. ``stop()`` returns (status, backend) per request."""

    def __init__(self, running: Balancer, *, limit: int = 5000, seconds: float = 20.0) -> None:
        self.running = running
        self.limit = limit
        self.seconds = seconds
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, name="traffic", daemon=True)

    def _send(self) -> None:
        deadline = time.monotonic() + self.seconds
        with self.running.client() as client:
            while not self._stop.is_set() and len(self.results) < self.limit and time.monotonic() < deadline:
                try:
                    response = client.get("/")
                    self.results.append((response.status_code, response.headers.get("x-backend", "")))
                except httpx.HTTPError as error:
                    self.results.append((0, type(error).__name__))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def seen(self, count: int) -> None:
        """Wait until ``count`` more requests have been answered."""
        target = len(self.results) + count
        # Generous: the machine may be busy; a pass never waits this long.
        wait_for(lambda: len(self.results) >= target or not self._thread.is_alive(), timeout=30.0,
                 message=f"{count} more requests")
        assert len(self.results) >= target, f"the traffic stopped early: {self.results[-5:]}"

    def stop(self) -> list[tuple[int, str]]:
        self._stop.set()
        self._thread.join(30.0)
        return self.results
