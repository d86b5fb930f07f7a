"""``laneway run -c FILE``: serve a config until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from laneway.cli import loop
from laneway.cli.check import read_config_and_text
from laneway.cli.exits import Exit
from laneway.cli.logs import configure_logging
from laneway.config import Config
from laneway.runtime.reload import ConfigReloader
from laneway.runtime.server import Runtime, hot_path_build
from laneway.runtime.supervisor import Supervisor, worker_count
from laneway.runtime.worker import serve_worker

if TYPE_CHECKING:
    from laneway.admin import AdminServer

log = logging.getLogger("laneway")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run", parents=[common], help="run a load balancer from a config file",
        description="Run the load balancer a config file describes, until SIGTERM or SIGINT; then stop "
                    "accepting, let requests under way finish for shutdown_grace, and exit 0. "
                    "A bad config exits 2 without binding anything; a failure to start exits 1.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="the YAML config to run")
    # How the supervisor starts a worker (docs/workers.md): its end of the control socket, and
    # its slot. Not for people: a worker takes its config from the supervisor, not the file.
    parser.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-slot", type=int, default=0, help=argparse.SUPPRESS)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> Exit:
    if args.worker_fd is not None:
        configure_logging(args.log_level, process=f"worker {args.worker_slot}")
        return Exit.OK if loop.run(serve_worker(args.worker_fd)) else Exit.FAILURE
    read = read_config_and_text(args.config)
    if read is None:
        return Exit.USAGE
    config, text = read
    workers = worker_count(config)
    if workers == 1:
        return loop.run(serve(config, args.config))
    command = [sys.executable, "-m", "laneway", "--log-level", args.log_level, "run", "-c", args.config]
    return loop.run(supervise(config, args.config, text, workers, command))


async def serve(config: Config, source: str) -> Exit:
    with loop.StopSignals(keep=loop.LATER_SIGNALS) as stop:
        runtime = Runtime(config)
        try:
            await runtime.start()  # on failure, start closes what it opened
        except (OSError, ValueError) as error:
            log.error("cannot start %s: %s", source, error)
            return Exit.FAILURE
        reloader = ConfigReloader(runtime, source)
        try:
            admin = await start_admin(runtime, config, reloader)
        except (OSError, ValueError):
            await runtime.shutdown(0)
            return Exit.FAILURE
        log_listeners(runtime)
        log.info("running %s (hot path: %s); SIGTERM or Ctrl-C stops", source, hot_path_build())
        await until_stopped(stop, reloader, runtime.reopen_logs)
        await announce_stop(runtime, config)
        log.info("stopping: letting requests under way finish for up to %gs", config.shutdown_grace)
        # The admin listener outlives the drain: /health/ready answers 503 meanwhile, so a
        # load balancer in front stops sending, and operators can watch the drain.
        await runtime.shutdown(config.shutdown_grace)
        if admin is not None:
            await admin.stop()
        log.info("stopped")
    return Exit.OK


async def supervise(config: Config, source: str, text: str, workers: int, command: list[str]) -> Exit:
    """``serve`` with ``workers`` processes serving the traffic (docs/workers.md): this one
    reserves the ports, checks health, runs the admin listener, and starts, restarts,
    reloads and stops the workers."""
    with loop.StopSignals(keep=loop.LATER_SIGNALS) as stop:
        runtime = Runtime(config, listen=False)
        supervisor = Supervisor(runtime, source, text, workers, command)
        try:
            await runtime.start()
            await supervisor.start()
        except (OSError, ValueError, RuntimeError) as error:
            log.error("cannot start %s: %s", source, error)
            await runtime.shutdown(0)
            return Exit.FAILURE
        reloader = ConfigReloader(runtime, source, apply=supervisor.reload)
        try:
            admin = await start_admin(runtime, config, reloader, supervisor)
        except (OSError, ValueError):
            await supervisor.stop(0)
            await runtime.shutdown(0)
            return Exit.FAILURE
        log_listeners(runtime)
        log.info("running %s with %d workers (hot path: %s); SIGTERM or Ctrl-C stops", source, workers,
                 hot_path_build())

        def reopen_logs() -> None:
            runtime.reopen_logs()
            supervisor.forward(signal.SIGUSR1)

        await until_stopped(stop, reloader, reopen_logs)
        await announce_stop(runtime, config)
        grace = runtime.config.shutdown_grace
        log.info("stopping: the workers let requests under way finish for up to %gs", grace)
        runtime.announce_shutdown()
        await supervisor.stop(grace)
        await runtime.shutdown(0)
        if admin is not None:
            await admin.stop()
        log.info("stopped")
    return Exit.OK


async def start_admin(runtime: Runtime, config: Config, reloader: ConfigReloader,
                      supervisor: Supervisor | None = None) -> AdminServer | None:
    """The admin listener, when the config has one; logs and raises what stops it."""
    if config.admin is None:
        return None
    # Imported only when used: FastAPI takes most of a second to import, which every other
    # command (check, ctl) would pay for.
    from laneway.admin import AdminServer

    try:
        admin = AdminServer(runtime, config.admin, reloader=reloader, supervisor=supervisor)
        await admin.start()
    except (OSError, ValueError) as error:
        log.error("cannot start the admin listener on %s: %s", config.admin.bind, error)
        raise
    return admin


def log_listeners(runtime: Runtime) -> None:
    for name, (host, port) in runtime.listener_addresses.items():
        log.info("listener %s: listening on %s", name, url(host, port))


async def until_stopped(stop: loop.StopSignals, reloader: ConfigReloader,
                        reopen_logs: Callable[[], None]) -> None:
    """Reload on SIGHUP and reopen logs on SIGUSR1 until SIGTERM or SIGINT; then let a
    reload under way finish."""
    loop_now = asyncio.get_running_loop()
    loop_now.add_signal_handler(signal.SIGUSR1, reopen_logs)
    reloads: set[asyncio.Task[None]] = set()

    def on_hangup() -> None:
        task = loop_now.create_task(reload(reloader))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop_now.add_signal_handler(signal.SIGHUP, on_hangup)
    # Sent while laneway was starting: acted on now that it is up.
    if signal.SIGUSR1 in stop.later:
        reopen_logs()
    if signal.SIGHUP in stop.later:
        on_hangup()
    stop.later.clear()
    await stop.wait()
    # Stopping: a reload now is dropped (kept in ``later``, never acted on), not fatal.
    loop_now.add_signal_handler(signal.SIGHUP, stop.later.add, signal.SIGHUP)
    await asyncio.gather(*reloads)


async def announce_stop(runtime: Runtime, config: Config) -> None:
    """``admin.shutdown_delay``: not ready, still serving, for that long. The admin block as
    at start: a reload does not change it."""
    admin_config = config.admin
    if admin_config is not None and admin_config.shutdown_delay > 0:
        runtime.announce_shutdown()
        log.info("stopping: /health/ready answers 503; still serving for %gs (admin.shutdown_delay)",
                 admin_config.shutdown_delay)
        await asyncio.sleep(admin_config.shutdown_delay)


async def reload(reloader: ConfigReloader) -> None:
    """SIGHUP: read the file again and run it; a config with problems changes nothing."""
    await reloader.reload("SIGHUP")


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
