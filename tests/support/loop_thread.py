"""An event loop in a background thread, for driving async servers from synchronous tests.

The proxy under test and the test backends run on this loop (uvloop when installed, as in
production); the test itself stays synchronous and talks to them over real sockets with
blocking clients. ``run()`` executes a coroutine on the loop and waits for its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

try:
    import uvloop

    HAVE_UVLOOP = True
except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
    HAVE_UVLOOP = False

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if HAVE_UVLOOP else asyncio.new_event_loop()


class LoopThread:
    """``start()``, then ``run(coro)`` from any other thread, then ``stop()``."""

    def __init__(self, name: str = "test-loop") -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def start(self) -> LoopThread:
        self._thread.start()
        if not self._started.wait(5.0):
            raise RuntimeError("the event loop thread did not start within 5s")
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the loop and return its result; cancel it if ``timeout`` passes."""
        name = getattr(coro, "__qualname__", repr(coro))
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"coroutine {name} did not finish within {timeout}s") from None

    def call(self, function: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Call a plain function on the loop thread (to touch loop-owned state safely)."""

        async def call() -> T:
            return function(*args)

        return self.run(call(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is still running on the loop, stop it and close it."""
        if not self._thread.is_alive():
            if not self.loop.is_closed():
                self.loop.close()
            return
        try:
            self.run(self._cancel_all(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the event loop thread did not stop within {timeout}s")
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _cancel_all(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
