"""Fixtures: a laneway runtime in front of real backends, with its admin listener on a
free port of 127.0.0.1, all on the test's event loop thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from laneway.admin import AdminServer
from tests.support.balancer import Balancer
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

    def start(backends: int = 1, *, admin_config: dict[str, Any] | None = None, **options: Any) -> Admin:
        settings = {"bind": "127.0.0.1:0", "token": TOKEN, **(admin_config or {})}
        running = balancer(backends, admin=settings, **options)
        config = running.runtime.config.admin
        assert config is not None
        server = AdminServer(running.runtime, config, environ={})
        loop_thread.run(server.start())
        started.append(server)
        return Admin(running, server)

    yield start
    for server in reversed(started):
        loop_thread.run(server.stop())
