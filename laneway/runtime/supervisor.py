"""The supervisor of ``workers: N`` (docs/workers.md): N worker processes serve the traffic;
this process runs everything there must be one of.

- It reserves the listeners' ports (``laneway.runtime.ports``) and starts the workers, each
  a fresh ``laneway run --worker-fd FD`` (a new interpreter, not a fork of this one, whose
  event loop and threads could not be copied safely), and talks to each over a socket pair
  (``laneway.runtime.messages``).
- Its own ``Runtime`` has the pools but no listeners; it runs the only active health checks
  and takes the admin API's changes, and passes the servers' states on to every worker
  whenever one changes (``laneway.runtime.server_states``).
- It adds up the counters the workers report every second into its own servers
  (``laneway.runtime.stats``), so the admin API and ``/metrics`` show the whole instance.
- A reload is validated and run here first, then the same file text goes to every worker.
- A worker that dies is started again, after a back-off if it keeps dying
  (``laneway.runtime.restarts``). On stop, workers get SIGTERM and drain; the supervisor waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from laneway.config import Config
from laneway.runtime import messages
from laneway.runtime.ports import Reservations, release
from laneway.runtime.restarts import RestartBackoff
from laneway.runtime.server import Runtime
from laneway.runtime.server_states import server_states
from laneway.runtime.stats import InstanceTotals, Snapshot, requests_in
from laneway.runtime.tls import listener_context

log = logging.getLogger("laneway")

# How long a worker may take from start to its listeners accepting.
START_TIMEOUT = 30.0
# After shutdown_grace, how long the workers get to exit before they are killed.
EXIT_MARGIN = 5.0
# How long a reload waits for every worker to say it runs the new config.
RELOAD_TIMEOUT = 10.0


def default_workers() -> int:
    """One worker per core this process may run on (``taskset`` and cgroup cpusets count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(config: Config) -> int:
    """The number of worker processes ``config`` asks for (1: a single process)."""
    return config.workers or default_workers()


@dataclass(frozen=True)
class WorkerStatus:
    """One worker slot, as the admin API's ``/api/workers`` shows it."""

    slot: int
    pid: int | None  # None while it is being started again
    alive: bool
    started_at: float | None  # Unix time
    restarts: int
    requests_total: int  # since this process of the slot started
    in_flight: int
    memory_bytes: int | None  # resident memory (RSS), where /proc tells


def resident_memory(pid: int) -> int | None:
    """A process's resident set size in bytes (Linux ``/proc/PID/statm``), or None."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class WorkerSlot:
    """One of the N places a worker runs in, and the process there now."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.process: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()
        self.started_at: float | None = None  # wall clock
        self.started_mono = 0.0
        self.restarts = 0
        self.stats: Snapshot = {}
        self.caches: Snapshot = {}  # its cache stores' counters (laneway.runtime.stats)
        self.rate_limited: dict[str, int] = {}  # requests its routes' rate limits refused
        self.reported = 0  # the last report request (``Supervisor.refresh_stats``) it answered
        self.generation = 0  # the last config (``Supervisor.generation``) it said it runs
        self.reload_problem: str | None = None  # why it could not run the last one
        self.backoff = RestartBackoff()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def status(self) -> WorkerStatus:
        requests, in_flight = requests_in(self.stats)
        pid = self.process.pid if self.alive and self.process is not None else None
        return WorkerStatus(self.slot, pid, self.alive, self.started_at, self.restarts, requests, in_flight,
                            resident_memory(pid) if pid is not None else None)


class Supervisor:
    """``await start()`` starts ``count`` workers for ``runtime``'s config (``text`` is the
    file's text, sent to them); ``await stop(grace)`` ends them."""

    def __init__(self, runtime: Runtime, source: str, text: str, count: int, command: Sequence[str]) -> None:
        # ``runtime`` was built with listen=False and is started: its pools and health checks run.
        self.runtime = runtime
        self.source = source
        self.text = text
        self.command = list(command)  # ``laneway ... run -c FILE``; --worker-fd is added
        self.slots = [WorkerSlot(index) for index in range(count)]
        self.reservations = Reservations()
        self.totals = InstanceTotals()
        self.stopping = asyncio.Event()
        self.started = False  # every worker served once; from then on they are restarted
        self._tasks: list[asyncio.Task[None]] = []
        self._states_pending = False
        self._states_sent: object = None
        self._report_requests = 0
        self._stats_arrived = asyncio.Event()
        self.generation = 0  # the config's: one more at each reload
        self._reload_answered = asyncio.Event()
        # Sums are made when read (refresh_stats) and once a second, not on every report:
        # with N workers that is N reports a second, each over every server.
        self._stats_changed = False
        self._summing: asyncio.Task[None] | None = None

    # Starting and stopping

    async def start(self) -> None:
        """Reserve the ports, start every worker and wait until all accept. Raises
        ``OSError`` for a port that cannot be bound, ``RuntimeError`` for a worker that
        exits or hangs while starting (having stopped what it started)."""
        config = self.runtime.config
        self.reservations.commit(config, self.reservations.update(config))
        self.runtime.listener_addresses.update(self.reservations.addresses())
        self.runtime.accepting = False  # until the workers accept
        self._watch_pools()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep_running(slot), name=f"worker {slot.slot}")
                       for slot in self.slots]
        self._summing = loop.create_task(self._sum_every_second(), name="worker totals")
        deadline = loop.time() + START_TIMEOUT
        waits = [asyncio.ensure_future(slot.ready.wait()) for slot in self.slots]
        while not all(wait.done() for wait in waits):
            if any(task.done() for task in self._tasks) or loop.time() >= deadline:
                for wait in waits:
                    wait.cancel()
                await self.stop(0)
                raise RuntimeError("a worker could not start; see its log lines above")
            await asyncio.wait([*(wait for wait in waits if not wait.done()), *self._tasks],
                               timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED)
        self.runtime.accepting = self.started = True
        log.info("%d workers serving (pids %s)", len(self.slots),
                 ", ".join(str(slot.process.pid) for slot in self.slots if slot.process is not None))

    async def stop(self, grace: float) -> None:
        """SIGTERM every worker (each drains for ``grace``); wait for them, kill what is left."""
        self.stopping.set()
        for slot in self.slots:
            self._signal(slot, signal.SIGTERM)
        processes = [slot.process for slot in self.slots if slot.process is not None]
        waiting = [asyncio.ensure_future(process.wait()) for process in processes]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=grace + EXIT_MARGIN)
            for process in processes:
                if process.returncode is None:
                    log.warning("worker pid %d still running %gs after SIGTERM; killing it",
                                process.pid, grace + EXIT_MARGIN)
                    process.kill()
            await asyncio.gather(*late)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._summing is not None:
            await self._summing
        self.reservations.close()

    def forward(self, signum: signal.Signals) -> None:
        """Pass a signal on to every worker (SIGUSR1: reopen the access log)."""
        for slot in self.slots:
            self._signal(slot, signum)

    @staticmethod
    def _signal(slot: WorkerSlot, signum: signal.Signals) -> None:
        if slot.alive and slot.process is not None:
            with contextlib.suppress(ProcessLookupError):
                slot.process.send_signal(signum)

    # One slot's life: start, serve, and start again if it dies

    async def _keep_running(self, slot: WorkerSlot) -> None:
        while not self.stopping.is_set():
            try:
                await self._run_once(slot)
            except OSError as error:  # could not even start the process
                log.error("worker %d: cannot start: %s", slot.slot, error)
            except Exception:  # a bug of the supervisor's must not leave the slot empty for good
                log.exception("worker %d: unexpected error while running it", slot.slot)
                if slot.process is not None and slot.process.returncode is None:
                    slot.process.kill()
                    await slot.process.wait()
            if self.stopping.is_set():
                return
            if not self.started:
                return  # died while laneway starts: start() reports it
            lived = time.monotonic() - slot.started_mono
            delay = slot.backoff.delay(lived)
            code = slot.process.returncode if slot.process is not None else None
            log.error("worker %d (pid %s) exited with %s after %.1fs; starting it again in %.1fs",
                      slot.slot, slot.process.pid if slot.process else "?", describe_exit(code), lived, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            slot.restarts += 1

    async def _run_once(self, slot: WorkerSlot) -> None:
        # From the attempt on: a start that fails at once counts as a short life (back-off).
        slot.started_at, slot.started_mono = time.time(), time.monotonic()
        parent, child = socket.socketpair()
        try:
            slot.process = await asyncio.create_subprocess_exec(
                *self.command, "--worker-fd", str(child.fileno()), "--worker-slot", str(slot.slot),
                pass_fds=(child.fileno(),))
        except OSError:
            parent.close()
            raise
        finally:
            child.close()
        slot.ready.clear()
        reader, writer = await messages.open_channel(parent)
        slot.writer = writer
        messages.send(writer, self._config_message())
        try:
            while (message := await messages.receive(reader)) is not None:
                self._on_message(slot, message)
        except Exception:
            # A message the supervisor cannot use: that worker is not to be trusted.
            log.exception("worker %d: unusable message; stopping it", slot.slot)
            with contextlib.suppress(ProcessLookupError):
                slot.process.kill()
        finally:
            slot.writer = None
            writer.close()
            await slot.process.wait()
            self.totals.retire(slot.stats, slot.caches, slot.rate_limited)  # they stay in the totals
            slot.stats, slot.caches, slot.rate_limited = {}, {}, {}
            self._apply_totals()
            self._update_accepting()

    def _on_message(self, slot: WorkerSlot, message: messages.Message) -> None:
        kind = message["type"]
        if kind == "stats":
            slot.stats = message["pools"]
            slot.caches = message.get("caches", {})
            slot.rate_limited = message.get("rate_limited", {})
            slot.reported = max(slot.reported, message.get("report", 0))
            self._stats_changed = True
            self._stats_arrived.set()
        elif kind == "ready":
            slot.ready.set()
            if self.started:
                log.info("worker %d (pid %s) serving", slot.slot, message.get("pid"))
            self._update_accepting()
        elif kind == "reloaded":
            slot.generation = max(slot.generation, message["generation"])
            self._reload_answered.set()
        elif kind == "reload_failed":
            slot.generation = max(slot.generation, message["generation"])
            slot.reload_problem = str(message.get("problem"))
            log.error("worker %d could not run the reloaded config: %s", slot.slot, slot.reload_problem)
            self._reload_answered.set()

    def _update_accepting(self) -> None:
        """Readiness (``/health/ready``): once started, ready while some worker accepts; when
        every worker is down at once (all being restarted), not ready."""
        if self.started:
            self.runtime.accepting = any(slot.alive and slot.ready.is_set() and slot.writer is not None
                                         for slot in self.slots)

    async def refresh_stats(self, timeout: float = 1.0) -> None:
        """Ask every worker for its counters now and wait (up to ``timeout``) for them: the
        admin API and /metrics then count every request that has started, not only those
        of the last per-second reports. A worker that does not answer in time is shown as
        of its last report."""
        self._report_requests += 1
        wanted = self._report_requests
        asked = [slot for slot in self.slots if slot.writer is not None and slot.ready.is_set()]
        for slot in asked:
            assert slot.writer is not None
            messages.send(slot.writer, {"type": "report", "report": wanted})
        deadline = asyncio.get_running_loop().time() + timeout
        while any(slot.reported < wanted and slot.writer is not None for slot in asked):
            self._stats_arrived.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stats_arrived.wait(), left)
        self._apply_totals()

    async def _sum_every_second(self) -> None:
        """Keep the sums (and the passive verdicts readiness reads) at most a second old."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            if self._stats_changed:
                self._apply_totals()

    def _apply_totals(self) -> None:
        self._stats_changed = False
        live = [slot for slot in self.slots if slot.stats]
        self.totals.apply(self.runtime, [slot.stats for slot in live], [slot.caches for slot in live],
                          [slot.rate_limited for slot in live])

    # What the workers are told

    def _config_message(self) -> messages.Message:
        return {"type": "config", "generation": self.generation, "source": self.source, "text": self.text,
                "binds": self.reservations.binds(), "servers": server_states(self.runtime),
                # One instance, one secret: a sticky split cookie one worker signed is
                # honoured by every other.
                "split_secret": self.runtime.split_secret.hex()}

    def _watch_pools(self) -> None:
        for pool in self.runtime.pools.values():
            pool.on_change = self._states_changed

    def _states_changed(self) -> None:
        """A server's state changed (checks, admin API): tell the workers, once per loop turn."""
        if not self._states_pending:
            self._states_pending = True
            asyncio.get_running_loop().call_soon(self._send_states)

    def _send_states(self) -> None:
        self._states_pending = False
        states = server_states(self.runtime)
        if states == self._states_sent:
            return  # e.g. only a passive verdict, which the workers keep themselves
        self._states_sent = states
        self._broadcast({"type": "servers", "pools": states})

    async def purge_cache(self, name: str) -> None:
        """Every worker empties its cache store ``name``; the counts are then fresh."""
        self._broadcast({"type": "purge_cache", "store": name})
        await self.refresh_stats()  # answered after the purge: each channel keeps its order

    def _broadcast(self, message: messages.Message) -> None:
        for slot in self.slots:
            if slot.writer is not None:
                messages.send(slot.writer, message)

    # Reload

    async def reload(self, config: Config, text: str) -> list[str]:
        """Run ``config`` here, then in every worker, and wait (up to ``RELOAD_TIMEOUT``) until
        each says it runs it. Raises (changing nothing) what the workers would fail on: a
        port that cannot be bound, a certificate that cannot be read, TLS turned on or off on
        a bind that stays. Returns what went wrong in workers all the same."""
        check_listeners(self.runtime.config, config)
        fresh = self.reservations.update(config)
        try:
            await self.runtime.reload(config)
        except BaseException:
            release(fresh)
            raise
        self.reservations.commit(config, fresh)
        self.runtime.listener_addresses = self.reservations.addresses()
        self.text = text
        self.generation += 1
        self._watch_pools()
        self._states_sent = server_states(self.runtime)
        asked = [slot for slot in self.slots if slot.writer is not None]
        for slot in asked:
            slot.reload_problem = None
        self._broadcast(self._config_message())
        return await self._reload_answers(asked, len(config.listeners), len(config.pools))

    async def _reload_answers(self, asked: list[WorkerSlot], listeners: int, pools: int) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RELOAD_TIMEOUT
        waiting = asked
        while waiting := [slot for slot in waiting if slot.generation < self.generation and slot.writer]:
            self._reload_answered.clear()
            left = deadline - loop.time()
            if left <= 0:
                problem = (f"worker(s) {', '.join(str(slot.slot) for slot in waiting)} did not confirm the "
                           f"reload within {RELOAD_TIMEOUT:g}s")
                log.error("%s", problem)
                return [problem]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload_answered.wait(), left)
        problems = [f"worker {slot.slot} could not run it and runs the previous config: {slot.reload_problem}"
                    for slot in asked if slot.reload_problem is not None]
        if not problems:
            log.info("config reloaded: %d listener(s), %d pool(s), in every worker", listeners, pools)
        return problems

    def statuses(self) -> list[WorkerStatus]:
        return [slot.status() for slot in self.slots]


def check_listeners(old: Config, new: Config) -> None:
    """What a worker's ``Runtime.reload`` would reject about the listeners, checked before
    anything changes: certificates that cannot be loaded, TLS switched on a bind that stays."""
    old_listeners = {listener.name: listener for listener in old.listeners}
    for listener in new.listeners:
        before = old_listeners.get(listener.name)
        switched = before is not None and (before.tls is None) != (listener.tls is None)
        if switched and before is not None and before.bind == listener.bind:
            raise ValueError(f"listener {listener.name}: tls can only be turned on or off with a new bind "
                             "(or a restart), not in place on the same bind")
        if listener.tls is not None:
            listener_context(listener.tls)  # raises for a certificate or key that cannot be used


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"status {code}"
