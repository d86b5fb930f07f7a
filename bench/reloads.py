#!/usr/bin/env python3
"""Requests lost while laneway reloads its config under load: the figure should be 0.

Starts three backend processes (bench/failover.py's) and a `laneway run` in front of them,
drives it with clients sending GET / for D seconds (half of them on keep-alive connections,
half opening a new connection for every request, so both a kept connection and a fresh
accept are exercised during every reload), and sends SIGHUP N times, evenly spread. Each
reload swaps between two configs that really differ (a server's weight and an extra
route), so every reload rebuilds routers and pools. Prints a Markdown table: requests,
reloads laneway confirmed in its log, and failed requests (any answer but 200, a refused
or reset connection, a timeout).

    python3 bench/reloads.py                          # 20 reloads, 20 s, 40 clients
    python3 bench/reloads.py --reloads 20 --duration 10 --workers 2

Standard library only (plus the laneway command).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from failover import (  # beside this file
    free_port,
    laneway_command,
    read_answer,
    start_backend,
    stop_all,
    wait_listening,
)

CONFIG = """\
{workers}listeners:
  - name: web
    bind: 127.0.0.1:{listen}
    routes:
{extra_route}      - pool: backends
pools:
  backends:
    algorithm: {algorithm}
    servers:
      - {{address: 127.0.0.1:{port0}, weight: {weight}}}
      - {{address: 127.0.0.1:{port1}}}
      - {{address: 127.0.0.1:{port2}}}
    health_check: {{path: /, interval: 1s, timeout: 500ms}}
"""


@dataclass
class Tally:
    requests: int = 0
    failed: int = 0
    kinds: dict[str, int] | None = None

    def fail(self, kind: str) -> None:
        self.failed += 1
        self.kinds = self.kinds or {}
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


async def client(port: int, until: float, tally: Tally, *, keep_alive: bool) -> None:
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (b"" if keep_alive else b"Connection: close\r\n")
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < until:
        tally.requests += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            head, _ = await read_answer(reader)
            if not head.startswith(b"HTTP/1.1 200"):
                tally.fail(head.split(b"\r\n", 1)[0].decode("latin-1"))
            if not keep_alive or b"connection: close" in head.lower():
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ValueError) as error:
            tally.fail(type(error).__name__)
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


def write_config(path: str, listen: int, ports: list[int], version: int, workers: int | None) -> None:
    extra = "      - match: {path_prefix: /v2/}\n        pool: backends\n" if version else ""
    with open(path, "w") as file:
        file.write(CONFIG.format(
            workers=f"workers: {workers}\n" if workers else "", listen=listen, extra_route=extra,
            algorithm="least_connections" if version else "round_robin", weight=1 + version,
            port0=ports[0], port1=ports[1], port2=ports[2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=40, help="half keep-alive, half a connection each")
    parser.add_argument("--workers", type=int, help="write `workers: N` into the config")
    args = parser.parse_args()
    if not 1 <= args.reloads <= 200 or not 3 <= args.duration <= 600 or not 2 <= args.clients <= 1000:
        raise SystemExit("--reloads 1-200, --duration 3-600 s, --clients 2-1000")
    ports = [free_port() for _ in range(3)]
    listen = free_port()
    backends = [start_backend(port) for port in ports]
    with tempfile.TemporaryDirectory(prefix="laneway-reloads-") as workdir:
        config = os.path.join(workdir, "laneway.yaml")
        write_config(config, listen, ports, 0, args.workers)
        log_path = os.path.join(workdir, "laneway.log")
        with open(log_path, "wb") as log_file:
            laneway = subprocess.Popen([*laneway_command(), "run", "-c", config], stdout=log_file,
                                       stderr=subprocess.STDOUT)
        tally = Tally()
        try:
            wait_listening(listen, 20.0)

            async def drive() -> None:
                until = time.monotonic() + args.duration
                clients = [asyncio.ensure_future(client(listen, until, tally, keep_alive=n % 2 == 0))
                           for n in range(args.clients)]
                gap = args.duration / (args.reloads + 1)
                for number in range(1, args.reloads + 1):
                    await asyncio.sleep(gap)
                    write_config(config, listen, ports, number % 2, args.workers)
                    laneway.send_signal(signal.SIGHUP)
                await asyncio.gather(*clients)

            asyncio.run(drive())
        finally:
            stop_all(laneway, backends)
        with open(log_path) as file:
            log_text = file.read()
    confirmed = len(re.findall(r"config reloaded", log_text))
    rejected = len(re.findall(r"reload of .* (?:rejected|failed)", log_text))
    print(f"{args.clients} clients (half keep-alive, half a new connection per request), GET /, "
          f"{args.duration:g} s; {args.reloads} reloads by SIGHUP, evenly spread, alternating two configs"
          f"{f'; workers: {args.workers}' if args.workers else ''}\n")
    print("| requests | reloads sent | reloads logged | rejected | failed requests |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(f"| {tally.requests:,} | {args.reloads} | {confirmed} | {rejected} | {tally.failed} |")
    if tally.kinds:
        kinds = sorted(tally.kinds.items())
        print("\nfailures by kind: " + ", ".join(f"{kind}: {count}" for kind, count in kinds))


if __name__ == "__main__":
    main()
