"""``laneway run -c FILE``: serve a config until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from laneway.cli import loop
from laneway.cli.check import read_config
from laneway.cli.exits import Exit
from laneway.config import Config
from laneway.runtime.reload import ConfigReloader
from laneway.runtime.server import Runtime, hot_path_build

log = logging.getLogger("laneway")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run", parents=[common], help="run a load balancer from a config file",
        description="Run the load balancer a config file describes, until SIGTERM or SIGINT; then stop "
                    "accepting, let requests under way finish for shutdown_grace, and exit 0. "
                    "A bad config exits 2 without binding anything; a failure to start exits 1.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="the YAML config to run")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> Exit:
    config = read_config(args.config)
    if config is None:
        return Exit.USAGE
    return loop.run(serve(config, args.config))


async def serve(config: Config, source: str) -> Exit:
    with loop.StopSignals() as stop:
        runtime = Runtime(config)
        try:
            await runtime.start()  # on failure, start closes what it opened
        except (OSError, ValueError) as error:
            log.error("cannot start %s: %s", source, error)
            return Exit.FAILURE
        reloader = ConfigReloader(runtime, source)
        admin = None
        if config.admin is not None:
            # Imported only when used: FastAPI takes most of a second to import, which every
            # other command (check, ctl) would pay for.
            from laneway.admin import AdminServer

            try:
                admin = AdminServer(runtime, config.admin, reloader=reloader)
                await admin.start()
            except (OSError, ValueError) as error:
                log.error("cannot start the admin listener on %s: %s", config.admin.bind, error)
                await runtime.shutdown(0)
                return Exit.FAILURE
        for name, (host, port) in runtime.listener_addresses.items():
            log.info("listener %s: listening on %s", name, url(host, port))
        log.info("running %s (hot path: %s); SIGTERM or Ctrl-C stops", source, hot_path_build())
        loop_now = asyncio.get_running_loop()
        loop_now.add_signal_handler(signal.SIGUSR1, runtime.reopen_logs)
        reloads: set[asyncio.Task[None]] = set()

        def on_hangup() -> None:
            task = loop_now.create_task(reload(reloader))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop_now.add_signal_handler(signal.SIGHUP, on_hangup)
        await stop.wait()
        loop_now.remove_signal_handler(signal.SIGHUP)
        await asyncio.gather(*reloads)
        admin_config = config.admin  # as at start: a reload does not change the admin block
        if admin_config is not None and admin_config.shutdown_delay > 0:
            runtime.announce_shutdown()
            log.info("stopping: /health/ready answers 503; still serving for %gs (admin.shutdown_delay)",
                     admin_config.shutdown_delay)
            await asyncio.sleep(admin_config.shutdown_delay)
        log.info("stopping: letting requests under way finish for up to %gs", config.shutdown_grace)
        # The admin listener outlives the drain: /health/ready answers 503 meanwhile, so a
        # load balancer in front stops sending, and operators can watch the drain.
        await runtime.shutdown(config.shutdown_grace)
        if admin is not None:
            await admin.stop()
        log.info("stopped")
    return Exit.OK


async def reload(reloader: ConfigReloader) -> None:
    """SIGHUP: read the file again and run it; a config with problems changes nothing."""
    await reloader.reload("SIGHUP")


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
