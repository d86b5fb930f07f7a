"""``laneway demo``: three local servers (fast, fast, slow) and a load balancer in front of them."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging

from laneway.cli import loop
from laneway.cli.exits import Exit
from laneway.cli.run import url
from laneway.runtime.demo import DemoServer, demo_config, start_demo_servers
from laneway.runtime.server import Runtime

log = logging.getLogger("laneway")

HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo", parents=[common], help="run a load balancer in front of three local demo servers",
        description="Start three demo servers on 127.0.0.1 (two fast, one slow, as in the round robin "
                    "example) and a load balancer in front of them, then show where to send requests. "
                    "Ctrl-C stops everything the demo started.")
    parser.add_argument("--port", type=port_number, default=None, metavar="N",
                        help=f"port for the load balancer on {HOST} (default: {DEFAULT_PORT}, "
                             "or a free port if it is busy; 0: any free port)")
    parser.set_defaults(command=demo)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, got {port}")
    return port


def demo(args: argparse.Namespace) -> Exit:
    return loop.run(run_demo(args.port))


async def run_demo(port: int | None) -> Exit:
    with loop.StopSignals() as stop:
        servers = await start_demo_servers(HOST)
        try:
            runtime = await start_balancer(servers, port)
            if runtime is None:
                return Exit.FAILURE
            try:
                print(banner(runtime, servers), flush=True)
                await stop.wait()
            finally:
                await runtime.shutdown(runtime.config.shutdown_grace)
        finally:
            await asyncio.gather(*(server.close() for server in servers))
        answered = ", ".join(f"{server.name}: {server.requests}" for server in servers)
        print(f"laneway demo stopped. Requests answered: {answered}", flush=True)
    return Exit.OK


async def start_balancer(servers: list[DemoServer], port: int | None) -> Runtime | None:
    """A started balancer on ``port``; when none was asked for, 8080 or else a free port."""
    runtime = Runtime(demo_config((HOST, DEFAULT_PORT if port is None else port), servers))
    try:
        await runtime.start()
        return runtime
    except OSError as error:
        if port is not None or error.errno != errno.EADDRINUSE:
            log.error("cannot listen on %s:%s: %s", HOST, DEFAULT_PORT if port is None else port, error)
            return None
    log.info("%s:%d is busy; listening on a free port instead", HOST, DEFAULT_PORT)
    return await start_balancer(servers, 0)


def banner(runtime: Runtime, servers: list[DemoServer]) -> str:
    [(host, port)] = runtime.listener_addresses.values()
    address = url(host, port)
    lines = [f"laneway demo: a load balancer on {address} in front of {len(servers)} demo servers "
             "(round robin):"]
    lines += [f"  {server.name} on {server.address[0]}:{server.address[1]}, answers in "
              f"{server.delay * 1000:.0f} ms" for server in servers]
    lines += [
        "Send requests to the load balancer:",
        f"  curl {address}",
        f"  for i in 1 2 3 4 5 6; do curl -s {address}; done",
        "Each request goes to the next server in turn; the log below shows which server answered",
        "and how long it took. Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
