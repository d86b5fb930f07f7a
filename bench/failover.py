#!/usr/bin/env python3
"""What a user sees when a server dies under load, and when it comes back.

Starts three small backend processes and a `laneway run` in front of them (round robin,
health checks every second, passive checks), drives it with N keep-alive clients sending
GET / for D seconds, kills one backend with SIGKILL a third of the way in and starts it
again at two thirds. It does this with retries on (laneway's default, `retries: 2`) and off
(`retries: 0`) and prints a Markdown table:

- requests and client-visible errors (any answer but 200, or a broken connection);
- time to eject: from the kill to laneway's log saying the server is out (DOWN or ejected);
- time to readmit: from the restart to the first answer a client gets from that server.

    python3 bench/failover.py                        # 50 clients, 20 s, retries on and off
    python3 bench/failover.py --clients 20 --duration 9

Standard library only (plus the laneway command).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

CONFIG = """\
listeners:
  - name: web
    bind: 127.0.0.1:{listen}
    routes: [{{pool: backends}}]
pools:
  backends:
    algorithm: round_robin
    retries: {retries}
    servers: [{servers}]
    health_check: {{path: /, interval: 1s, timeout: 500ms, rise: 2, fall: 2}}
    outlier_detection: {{consecutive_failures: 3, ejection_time: 2s}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- backend


class Backend(asyncio.Protocol):
    """Keep-alive HTTP/1.1 for bodiless requests: every request gets ``200 ok <port>``."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4:]
            assert self.transport is not None
            self.transport.write(self.answer)


def serve(port: int) -> None:
    body = b"ok %d" % port
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: Backend(answer), "127.0.0.1", port, reuse_address=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start_backend(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, 10.0)
    return process


def wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise SystemExit(f"nothing listens on port {port} after {timeout:g}s")


# ---------------------------------------------------------------------------- load


@dataclass
class Tally:
    requests: int = 0
    errors: int = 0
    first_error: float | None = None
    last_error: float | None = None
    answers: dict[int, list[float]] = field(default_factory=dict)  # backend port: first times seen

    def error(self, at: float) -> None:
        self.errors += 1
        self.first_error = at if self.first_error is None else self.first_error
        self.last_error = at


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The next response's head and body (bodies with a Content-Length only; else ValueError)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    if length is None:
        raise ValueError("an answer without Content-Length")
    return head, await reader.readexactly(int(length.group(1)))


async def client(port: int, until: float, tally: Tally, watch_port: int, restarted: list[float]) -> None:
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            head, body = await read_answer(reader)
            tally.requests += 1
            now = time.monotonic()
            if not head.startswith(b"HTTP/1.1 200"):
                tally.error(now)
                continue
            served_by = int(body.split()[-1])
            if served_by == watch_port and restarted and not tally.answers.get(served_by):
                tally.answers[served_by] = [now]
            if b"connection: close" in head.lower():
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            tally.requests += 1
            tally.error(time.monotonic())
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


@dataclass
class Outcome:
    retries: int
    requests: int
    errors: int
    eject_seconds: float | None
    readmit_seconds: float | None


def out_at(log_text: str, port: int, after_wall: float) -> float | None:
    """Wall time of laneway's first log line after ``after_wall`` taking ``port`` out."""
    for line in log_text.splitlines():
        if f":{port}" not in line or not re.search(r"is DOWN|ejected|breaker OPEN", line):
            continue
        stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        if stamp >= after_wall - 0.001:
            return stamp
    return None


def stop_all(laneway: subprocess.Popen[bytes], backends: list[subprocess.Popen[bytes]]) -> None:
    """laneway stopped as an operator would (SIGTERM, then SIGKILL after 15 s), and the backends."""
    laneway.send_signal(signal.SIGTERM)
    try:
        laneway.wait(15)
    except subprocess.TimeoutExpired:
        laneway.kill()
    for process in backends:
        process.kill()
        process.wait()


def laneway_command() -> list[str]:
    found = shutil.which("laneway")
    return [found] if found else [sys.executable, "-m", "laneway"]


def run_once(args: argparse.Namespace, retries: int, workdir: str) -> Outcome:
    ports = [free_port() for _ in range(3)]
    listen = free_port()
    backends = [start_backend(port) for port in ports]
    config = os.path.join(workdir, f"failover-{retries}.yaml")
    with open(config, "w") as file:
        file.write(CONFIG.format(listen=listen, retries=retries,
                                 servers=", ".join(f"{{address: 127.0.0.1:{p}}}" for p in ports)))
    log_path = os.path.join(workdir, f"failover-{retries}.log")
    with open(log_path, "wb") as log_file:
        laneway = subprocess.Popen([*laneway_command(), "run", "-c", config], stdout=log_file,
                                   stderr=subprocess.STDOUT)
    victim = 1
    try:
        wait_listening(listen, 20.0)
        tally = Tally()
        restarted: list[float] = []
        killed_wall = restarted_at = 0.0

        async def drive() -> None:
            nonlocal killed_wall, restarted_at
            start = time.monotonic()
            until = start + args.duration
            clients = [asyncio.ensure_future(client(listen, until, tally, ports[victim], restarted))
                       for _ in range(args.clients)]
            await asyncio.sleep(args.duration / 3)
            killed_wall = time.time()
            backends[victim].send_signal(signal.SIGKILL)
            backends[victim].wait()
            await asyncio.sleep(args.duration / 3)
            backends[victim] = await asyncio.to_thread(start_backend, ports[victim])
            restarted_at = time.monotonic()
            restarted.append(restarted_at)
            await asyncio.gather(*clients)

        asyncio.run(drive())
    finally:
        stop_all(laneway, backends)
    with open(log_path) as file:
        out = out_at(file.read(), ports[victim], killed_wall)
    seen = tally.answers.get(ports[victim])
    return Outcome(retries, tally.requests, tally.errors,
                   None if out is None else out - killed_wall,
                   None if not seen else seen[0] - restarted_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if not 3 <= args.duration <= 600 or not 1 <= args.clients <= 1000:
        raise SystemExit("--duration must be 3-600 s and --clients 1-1000")
    with tempfile.TemporaryDirectory(prefix="laneway-failover-") as workdir:
        outcomes = [run_once(args, retries, workdir) for retries in (2, 0)]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    print(f"{args.clients} keep-alive clients, GET /, {args.duration:g} s; one of 3 backends killed "
          f"(SIGKILL) at {args.duration / 3:.1f} s and restarted at {2 * args.duration / 3:.1f} s\n")
    print("| retries | requests | client-visible errors | time to eject | time to readmit |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for o in outcomes:
        print(f"| {o.retries} | {o.requests:,} | {o.errors:,} | {seconds(o.eject_seconds)} "
              f"| {seconds(o.readmit_seconds)} |")


if __name__ == "__main__":
    main()
