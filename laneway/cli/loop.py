"""Running the command's coroutine on uvloop when it is installed, and stopping on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("laneway")

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Acted on once the command is up (reload, reopen logs); their default action kills.
LATER_SIGNALS = (signal.SIGHUP, signal.SIGUSR1)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it can be imported, otherwise asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


class StopSignals:
    """Turns SIGINT and SIGTERM into an event, from the moment it is entered.

    Enter it before starting anything: a signal that arrives while listeners are still being
    bound is then remembered, and the command stops as soon as it is up, instead of dying
    half-started. Likewise ``keep`` (``LATER_SIGNALS`` for ``laneway run``): a SIGHUP sent
    while laneway starts (a reload right after a start) would kill it by default; it is kept
    in ``later`` for the command to act on once it is up.
    """

    def __init__(self, keep: tuple[signal.Signals, ...] = ()) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keep = keep
        self.later: set[signal.Signals] = set()

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            self._loop.add_signal_handler(signum, self._on_signal, signum)
        for signum in self._keep:
            self._loop.add_signal_handler(signum, self.later.add, signum)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            for signum in (*STOP_SIGNALS, *self._keep):
                self._loop.remove_signal_handler(signum)

    def _on_signal(self, signum: signal.Signals) -> None:
        log.info("received %s", signum.name)
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
