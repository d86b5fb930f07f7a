"""A worker of ``workers: N``: serves the traffic of the config its supervisor sends.

It binds every listener itself, sharing the port with the other workers (SO_REUSEPORT), and
runs the proxy with its own pools, passive checks and circuit breakers. It runs no active
health checks and no admin listener: the supervisor does, and sends the servers' states
(``laneway.runtime.server_states``), which it applies to its pools. It reports its counters
every second (``laneway.runtime.stats``).

Signals: SIGTERM stops it gracefully (the supervisor sends it); SIGINT and SIGHUP are
ignored (Ctrl-C in a terminal reaches the whole process group, and the supervisor passes
the stop on; reloads come from the supervisor); SIGUSR1 reopens the access log. If the
supervisor goes away (its end of the socket closes), the worker stops gracefully too: no
worker outlives its supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from laneway.config import Config, ConfigError, config_dir, parse_config_text
from laneway.runtime import messages
from laneway.runtime.ports import with_binds
from laneway.runtime.server import Runtime
from laneway.runtime.server_states import apply_server_states
from laneway.runtime.stats import cache_snapshot, rate_limited, snapshot

log = logging.getLogger("laneway")

STATS_INTERVAL = 1.0


def worker_config(message: messages.Message) -> Config:
    """The config a ``config`` message carries, with the listeners' reserved addresses.
    Raises ``ConfigError`` (the supervisor validated the same text, so only if a file it
    names changed in between)."""
    source = message["source"]
    config = parse_config_text(message["text"], source, base_dir=config_dir(source))
    return with_binds(config, message["binds"])


class Worker:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.runtime: Runtime | None = None
        self.stop = asyncio.Event()
        self.failed = False

    async def serve(self) -> bool:
        """Run until told to stop; False when it could not start or had to stop on an error."""
        loop = asyncio.get_running_loop()
        # From the start: a SIGTERM while starting stops the worker as soon as it is up.
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        first = await messages.receive(self.reader)
        if first is None or first["type"] != "config":
            log.error("worker: no config from the supervisor; exiting")
            return False
        try:
            runtime = Runtime(worker_config(first), check_health=False, reuse_port=True)
            runtime.split_secret = bytes.fromhex(first["split_secret"])
            # The supervisor's verdicts apply before the first connection is accepted.
            await runtime.start(prepare=lambda: apply_server_states(runtime, first["servers"]))
        except (ConfigError, OSError, ValueError) as error:
            log.error("worker: cannot start: %s", error)
            return False
        self.runtime = runtime
        loop.add_signal_handler(signal.SIGUSR1, runtime.reopen_logs)
        messages.send(self.writer, {"type": "ready", "pid": os.getpid()})
        listening = loop.create_task(self._listen())
        reporting = loop.create_task(self._report())
        await self.stop.wait()
        loop.remove_signal_handler(signal.SIGTERM)
        grace = runtime.config.shutdown_grace
        log.info("stopping: not accepting; requests under way have up to %gs to finish", grace)
        await runtime.shutdown(grace)
        listening.cancel()
        reporting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(listening, reporting)
        self._send_stats()  # the last counts, which the supervisor keeps in its totals
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        self.writer.close()
        return not self.failed

    async def _listen(self) -> None:
        """Apply the supervisor's messages in order; its going away stops this worker."""
        try:
            while (message := await messages.receive(self.reader)) is not None:
                await self._apply(message)
        except Exception:
            # A worker that cannot follow the supervisor must not serve on stale state: it
            # stops, and the supervisor starts a fresh one with the current state.
            log.exception("worker: cannot apply the supervisor's message; stopping")
            self.failed = True
        else:
            log.warning("worker: the supervisor has gone; stopping")
        self.stop.set()

    async def _apply(self, message: messages.Message) -> None:
        runtime = self.runtime
        assert runtime is not None
        if message["type"] == "servers":
            apply_server_states(runtime, message["pools"])
        elif message["type"] == "report":
            self._send_stats(message["report"])
        elif message["type"] == "purge_cache":
            store = runtime.caches.get(message["store"])
            if store is not None:
                store.clear()
        elif message["type"] == "config":
            try:
                await runtime.reload(worker_config(message))
            except (ConfigError, OSError, ValueError) as error:
                log.error("worker: reload failed, still running the previous config: %s", error)
                messages.send(self.writer, {"type": "reload_failed", "generation": message["generation"],
                                            "problem": str(error)})
                return
            apply_server_states(runtime, message["servers"])
            log.info("worker: running the reloaded config")
            messages.send(self.writer, {"type": "reloaded", "generation": message["generation"]})

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            self._send_stats()

    def _send_stats(self, report: int = 0) -> None:
        """``report``: the supervisor's request this answers (0: the per-second report)."""
        if self.runtime is not None:
            messages.send(self.writer, {"type": "stats", "pools": snapshot(self.runtime),
                                        "caches": cache_snapshot(self.runtime),
                                        "rate_limited": rate_limited(self.runtime), "report": report})


async def serve_worker(control_fd: int) -> bool:
    """The worker's main: ``control_fd`` is its end of the socket pair to the supervisor."""
    # Before anything else: a Ctrl-C meant for the supervisor must not stop a worker mid-start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=control_fd)
    reader, writer = await messages.open_channel(sock)
    return await Worker(reader, writer).serve()
