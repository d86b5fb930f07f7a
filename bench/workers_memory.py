#!/usr/bin/env python3
"""Memory per worker: resident memory (RSS) of laneway's processes with `workers: N`.

For each N in --workers, starts `laneway run` (workers: N, one HTTP listener, one pool of one
small local backend, no admin listener), sends --requests requests through it, each on a new
connection so that the kernel spreads them over the workers, then reads every process's RSS
from /proc (the supervisor and its workers; with `workers: 1` the one process) and stops it.

    python3 bench/workers_memory.py                     # workers 1 and 2, 2000 requests
    python3 bench/workers_memory.py --workers 1,2,4 --requests 5000
    python3 bench/workers_memory.py --laneway bench/.venv/bin/laneway

Light: one request at a time from one client, a few seconds in all. Standard library only.
A running laneway shows the same per worker at `GET /api/workers` (`memory_bytes`) and in
`/metrics` (`laneway_worker_resident_memory_bytes`).
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time


class Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.MULTILINE).group(1))


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listed:
            found.extend(int(child) for child in listed.read().split())
    return sorted(found)


def wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise SystemExit(f"laneway did not print {pattern!r}:\n{''.join(seen)}")


def measure(laneway: list[str], workers: int, requests: int, backend: int) -> list[tuple[str, int, int]]:
    with tempfile.TemporaryDirectory() as directory:
        config = os.path.join(directory, "laneway.yaml")
        with open(config, "w", encoding="utf-8") as file:
            file.write(f"workers: {workers}\n"
                       "listeners:\n  - {name: web, bind: 127.0.0.1:0, routes: [{pool: app}]}\n"
                       f"pools:\n  app:\n    servers: [{{address: \"127.0.0.1:{backend}\"}}]\n"
                       "shutdown_grace: 1s\n")
        process = subprocess.Popen([*laneway, "run", "-c", config], stderr=subprocess.PIPE, text=True)
        try:
            port = int(wait_for_line(process, r"listener web: listening on http://127\.0\.0\.1:(\d+)/").group(1))
            wait_for_line(process, r"running ")
            threading.Thread(target=lambda: [None for _ in process.stderr or ()], daemon=True).start()
            for index in range(requests):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", f"/{index}", headers={"Connection": "close"})
                assert connection.getresponse().read() == b"ok\n"
                connection.close()
            if workers == 1:
                return [("single process", process.pid, rss_kib(process.pid))]
            rows = [("supervisor", process.pid, rss_kib(process.pid))]
            rows += [(f"worker {index}", pid, rss_kib(pid))
                     for index, pid in enumerate(children(process.pid))]
            return rows
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts (1,2)")
    parser.add_argument("--requests", type=int, default=2000, help="requests before measuring (2000)")
    parser.add_argument("--laneway", default=f"{shlex.quote(sys.executable)} -m laneway",
                        help="the laneway command (default: this Python's -m laneway)")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"{'workers':>7}  {'process':<15}{'pid':>8}{'RSS MiB':>10}")
    for workers in (int(count) for count in args.workers.split(",")):
        rows = measure(shlex.split(args.laneway), workers, args.requests, server.server_address[1])
        for role, pid, kib in rows:
            print(f"{workers:>7}  {role:<15}{pid:>8}{kib / 1024:>10.1f}")
    server.shutdown()


if __name__ == "__main__":
    main()
