#!/usr/bin/env python3
"""Layer 4 bulk transfers: 1 GiB each way through laneway, HAProxy `mode tcp` and NGINX `stream`.

For each candidate in turn (interleaved over --rounds), one connection through the balancer:

* download: the backend sends --size bytes, the client reads them until EOF;
* upload: the client sends --size bytes and shuts down its side, the backend counts them and
  answers with the count (so a byte lost anywhere shows).

The balancer runs alone on --lb-cpu; the backend and the client (this process) share
--load-cpu. Reported per candidate and direction (medians): seconds, MiB/s, and the
balancer's CPU seconds per GiB moved (utime + stime of all its processes, from
/proc/<pid>/stat, before and after the transfer).

    python3 bench/tcp_transfer.py                       # 3 rounds of 1 GiB each way
    python3 bench/tcp_transfer.py --rounds 5 --candidates laneway,haproxy-tcp

Standard library only; nginx and haproxy must be installed (nginx with its stream module).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1 << 20
CANDIDATES = ["laneway", "haproxy-tcp", "nginx-stream"]
TICKS = os.sysconf("SC_CLK_TCK")
STREAM_MODULES = ("/usr/lib/nginx/modules/ngx_stream_module.so",
                  "/usr/share/nginx/modules/ngx_stream_module.so")


# ---------------------------------------------------------------- the backend (run as --serve PORT)

def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=64)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


def serve_one(conn: socket.socket) -> None:
    with conn, contextlib.suppress(ConnectionError):  # readiness probes connect and close
        head = read_exactly(conn, 9)
        kind, size = head[:1], struct.unpack("!Q", head[1:])[0]
        if kind == b"D":
            send_bytes(conn, size)
            conn.shutdown(socket.SHUT_WR)
            read_until_eof(conn)
        else:
            received = read_until_eof(conn)
            conn.sendall(struct.pack("!Q", received))


def read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def read_until_eof(conn: socket.socket) -> int:
    buffer = bytearray(CHUNK)
    total = 0
    while count := conn.recv_into(buffer):
        total += count
    return total


def send_bytes(conn: socket.socket, size: int) -> None:
    block = memoryview(b"x" * CHUNK)
    while size > 0:
        part = block[:min(size, CHUNK)]
        conn.sendall(part)
        size -= len(part)


# ---------------------------------------------------------------- the balancers

def configs(d: Path, port: int, backend: str) -> dict[str, list[str]]:
    (d / "laneway.yaml").write_text(
        f"listeners:\n  - {{name: edge, bind: '127.0.0.1:{port}', protocol: tcp, pool: be, "
        f"timeouts: {{idle: 60s}}}}\npools:\n  be: {{servers: [{{address: '{backend}'}}]}}\n")
    (d / "haproxy.cfg").write_text(
        f"global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n"
        f"  timeout client 60s\n  timeout server 60s\nfrontend fe\n  bind 127.0.0.1:{port + 1}\n"
        f"  default_backend be\nbackend be\n  server s1 {backend}\n")
    module = next((m for m in STREAM_MODULES if os.path.exists(m)), None)
    load = f"load_module {module};\n" if module else ""
    (d / "nginx.conf").write_text(
        f"{load}worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/nginx.err warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"stream {{ server {{ listen 127.0.0.1:{port + 2}; proxy_pass {backend}; "
        "proxy_half_close on; } }\n")
    python = sys.executable
    return {
        "laneway": [python, "-m", "laneway", "run", "-c", str(d / "laneway.yaml")],
        "haproxy-tcp": ["haproxy", "-db", "-f", str(d / "haproxy.cfg")],
        "nginx-stream": ["nginx", "-p", str(d), "-e", str(d / "nginx.err"), "-c", str(d / "nginx.conf")],
    }


def group_ticks(pgid: int) -> int:
    """utime + stime of every process in the group (nginx: master and worker)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # fields[2] is pgrp (field 5 of stat)
            total += int(fields[11]) + int(fields[12])
    return total


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


# ---------------------------------------------------------------- the client

def transfer(port: int, kind: str, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(kind.encode() + struct.pack("!Q", size))
        if kind == "D":
            received = read_until_eof(conn)
            if received != size:
                raise SystemExit(f"download: got {received} of {size} bytes")
        else:
            send_bytes(conn, size)
            conn.shutdown(socket.SHUT_WR)
            counted = struct.unpack("!Q", read_exactly(conn, 8))[0]
            if counted != size:
                raise SystemExit(f"upload: the backend got {counted} of {size} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1 << 30, help="bytes each way (1 GiB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--candidates", default="laneway,haproxy-tcp,nginx-stream")
    parser.add_argument("--lb-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=19400)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    os.sched_setaffinity(0, {args.load_cpu})
    d = Path(tempfile.mkdtemp(prefix="laneway-tcp-bench-"))
    backend_port = args.base_port
    backend = subprocess.Popen(["taskset", "-c", str(args.load_cpu), sys.executable, __file__,
                                "--serve", str(backend_port)], stdout=subprocess.PIPE, start_new_session=True)
    assert backend.stdout is not None
    backend.stdout.readline()
    argv = configs(d, args.base_port + 10, f"127.0.0.1:{backend_port}")
    wanted = [c for c in args.candidates.split(",") if c]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in wanted:
            if not shutil.which(argv[name][0]):
                print(f"skipped {name}: {argv[name][0]} not installed", file=sys.stderr)
                continue
            port = args.base_port + 10 + CANDIDATES.index(name)
            with open(d / f"{name}.log", "wb") as errors:  # the child keeps its own copy
                process = subprocess.Popen(["taskset", "-c", str(args.lb_cpu), *argv[name]], env=env,
                                           stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
            wait_port(port)
            started[name] = (process, port)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_number in range(1, args.rounds + 1):
            for kind, direction in (("D", "download"), ("U", "upload")):
                for name, (process, port) in started.items():
                    before_ticks, before = group_ticks(process.pid), time.perf_counter()
                    transfer(port, kind, args.size)
                    seconds = time.perf_counter() - before
                    cpu = (group_ticks(process.pid) - before_ticks) / TICKS
                    results.setdefault((name, direction), []).append((seconds, cpu))
                    print(f"round {round_number} {direction:<8} {name:<13} {seconds:6.2f} s "
                          f"{args.size / seconds / 2**20:7.0f} MiB/s  lb cpu {cpu:5.2f} s", file=sys.stderr)
        gib = args.size / 2**30
        print("| transfer | candidate | seconds | MiB/s | lb CPU s/GiB |")
        print("| --- | --- | ---: | ---: | ---: |")
        for (name, direction), values in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
            seconds = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            rate = args.size / seconds / 2**20
            print(f"| {direction} {gib:g} GiB | {name} | {seconds:.2f} | {rate:,.0f} | {cpu / gib:.2f} |")
    finally:
        for process, _ in started.values():
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        os.killpg(backend.pid, signal.SIGTERM)
        backend.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
