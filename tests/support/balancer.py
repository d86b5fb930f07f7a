"""A laneway ``Runtime`` in front of test backends, all on one background event loop.

``start_balancer`` builds the config (one listener ``web`` on a free port, one pool ``p``
holding the backends), starts everything and returns a ``Balancer`` for the test to talk to.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from laneway.config import parse_config
from laneway.runtime.server import Runtime
from tests.support.backend import Backend, start_backends, stop_all
from tests.support.loop_thread import LoopThread

PROBE_PATH = "/__probe__"


def make_config(servers: list[str], *, listener: dict[str, Any] | None = None,
                pool: dict[str, Any] | None = None, routes: list[dict[str, Any]] | None = None,
                pools: dict[str, Any] | None = None, shutdown_grace: str | None = None,
                access_log: dict[str, Any] | None = None,
                top: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config document: listener ``web`` on 127.0.0.1:0 routing everything to pool ``p``.

    ``listener`` and ``pool`` are merged into the listener and the pool (e.g.
    ``listener={"timeouts": {"header": "0.5s"}}``); ``routes`` replaces the listener's
    routes (``[]``: none, for a listener that only redirects) and ``pools`` adds pools beside ``p``.
    """
    routes = [{"pool": "p"}] if routes is None else routes
    document: dict[str, Any] = {
        "listeners": [{"name": "web", "bind": "127.0.0.1:0", **({"routes": routes} if routes else {}),
                       **(listener or {})}],
        "pools": {"p": {"servers": [{"address": address} for address in servers], **(pool or {})},
                  **(pools or {})},
    }
    if shutdown_grace is not None:
        document["shutdown_grace"] = shutdown_grace
    if access_log is not None:
        document["access_log"] = access_log
    document.update(top or {})  # other top-level settings, e.g. {"geoip": {...}}
    return document


@dataclass
class Balancer:
    loop: LoopThread
    runtime: Runtime
    backends: list[Backend]
    address: tuple[str, int]
    stopped: bool = field(default=False)
    shutting_down: concurrent.futures.Future[None] | None = field(default=None)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def backend(self) -> Backend:
        """The first (often the only) backend."""
        return self.backends[0]

    def client(self, **options: Any) -> httpx.Client:
        options.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.url, trust_env=False, **options)

    def get(self, path: str, **options: Any) -> httpx.Response:
        """One request on a fresh client connection."""
        with self.client() as client:
            return client.get(path, **options)

    def probe(self) -> httpx.Response:
        """A request that must succeed: the listener still serves after whatever came before."""
        response = self.get(PROBE_PATH, headers={"Connection": "close"})
        assert response.status_code == 200, (
            f"probe after the fault got {response.status_code}: {response.text}")
        return response

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` on the event loop thread (to touch the runtime's state)."""
        return self.loop.call(function, *args)

    def begin_shutdown(self, grace: float) -> concurrent.futures.Future[None]:
        """Start ``runtime.shutdown(grace)`` on the loop and return at once."""
        self.stopped = True
        shutdown = self.runtime.shutdown(grace=grace)
        self.shutting_down = asyncio.run_coroutine_threadsafe(shutdown, self.loop.loop)
        return self.shutting_down

    def shutdown(self, grace: float = 1.0) -> None:
        if not self.stopped:
            self.stopped = True
            self.loop.run(self.runtime.shutdown(grace=grace), timeout=grace + 10.0)

    def stop(self) -> None:
        try:
            if self.shutting_down is not None:
                self.shutting_down.result(timeout=15.0)
            self.shutdown()
        finally:
            self.loop.run(stop_all(self.backends))


def start_balancer(loop: LoopThread, backends: int = 1, *, servers: list[str] | None = None,
                   backend_settings: dict[str, Any] | None = None,
                   pools_of_backends: dict[str, list[int]] | None = None, **config: Any) -> Balancer:
    """Start ``backends`` recording backends and a runtime in front of them.

    ``servers`` replaces the backends' addresses in pool ``p`` (e.g. a closed port);
    ``pools_of_backends`` makes pools of some backends (``{"p": [0], "api": [1]}``);
    ``config`` goes to ``make_config``.
    """
    started = loop.run(start_backends(backends, **(backend_settings or {})))
    try:
        # A mistake in the test's own arguments must not leave backends running: the loop
        # thread could not stop and the test would hang instead of failing.
        addresses = [f"{b.address[0]}:{b.address[1]}" for b in started]
        if pools_of_backends:
            extra = config.setdefault("pools", {})
            for name, indexes in pools_of_backends.items():
                if name != "p":
                    extra[name] = {"servers": [{"address": addresses[index]} for index in indexes]}
            if "p" in pools_of_backends:
                addresses = [addresses[index] for index in pools_of_backends["p"]]
        if servers is not None:
            addresses = servers
        runtime = Runtime(parse_config(make_config(addresses, **config)))
        loop.run(runtime.start())
    except BaseException:
        loop.run(stop_all(started))
        raise
    return Balancer(loop, runtime, started, runtime.listener_addresses["web"])


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
             message: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (and return it), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s")
        time.sleep(interval)
