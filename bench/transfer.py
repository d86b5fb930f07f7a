#!/usr/bin/env python3
"""How much memory laneway needs to move a large body: a 1 GiB download and a 1 GiB upload.

Starts a small backend (streams N bytes on GET /download?bytes=N; counts and discards the
body of PUT/POST /upload), a `laneway run` in front of it, and curl as the client; samples
laneway's resident memory every 20 ms while each transfer runs and prints a Markdown table.

    python3 bench/transfer.py                  # 1 GiB each way
    python3 bench/transfer.py --size 256MiB    # quicker

Standard library only (plus the laneway command and curl).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CHUNK = b"x" * (256 * 1024)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Backend(asyncio.Protocol):
    """Just enough HTTP/1.1 for the two transfers; one request per connection, then close."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = -1
        self.received = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.remaining >= 0:
            self.consume(len(data))
            return
        self.buffer += data
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if method == "GET":
            size = int(target.split("bytes=", 1)[1])
            asyncio.get_running_loop().create_task(self.stream(size))
        else:
            self.remaining = int(headers.get("content-length", "0"))
            self.consume(len(rest))

    def consume(self, count: int) -> None:
        self.received += count
        self.remaining -= count
        if self.remaining <= 0 and self.transport is not None:
            body = f"{self.received}\n".encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))
            self.transport.close()

    async def stream(self, size: int) -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        sent = 0
        while sent < size and not self.transport.is_closing():
            piece = CHUNK[: min(len(CHUNK), size - sent)]
            self.transport.write(piece)
            sent += len(piece)
            if self.transport.get_write_buffer_size() > 4 * len(CHUNK):
                while self.transport.get_write_buffer_size() > len(CHUNK):
                    await asyncio.sleep(0.001)
        self.transport.close()

    def pause_writing(self) -> None:
        pass


def run_backend(port: int, ready: threading.Event) -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_server(Backend, "127.0.0.1", port)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(pid: int, argv: list[str]) -> tuple[float, int, str]:
    peak = 0
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"curl failed ({proc.returncode}): {err.strip()}")
    return time.monotonic() - start, peak, out.strip()


def parse_size(text: str) -> int:
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(text[: -len(unit)]) * factor
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB", help="bytes each way (default 1GiB)")
    args = parser.parse_args()
    size = parse_size(args.size)
    if not shutil.which("curl"):
        sys.exit("curl is required")
    laneway = shutil.which("laneway")
    command = [laneway] if laneway else [sys.executable, "-m", "laneway"]

    backend_port, lb_port = free_port(), free_port()
    ready = threading.Event()
    threading.Thread(target=run_backend, args=(backend_port, ready), daemon=True).start()
    ready.wait(10)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "laneway.yaml")
        with open(config, "w") as f:
            f.write(f"listeners:\n  - name: web\n    bind: 127.0.0.1:{lb_port}\n    routes: [{{pool: big}}]\n"
                    f"pools:\n  big:\n    servers: [{{address: '127.0.0.1:{backend_port}'}}]\n")
        upload = os.path.join(tmp, "upload.bin")
        with open(upload, "wb") as f:
            f.truncate(size)  # sparse: costs no disk
        log = open(os.path.join(tmp, "laneway.log"), "w+")  # noqa: SIM115 - read back after the run
        lb = subprocess.Popen([*command, "run", "-c", config], stderr=log)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", lb_port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or lb.poll() is not None:
                        sys.exit("laneway did not start")
                    time.sleep(0.05)
            url = f"http://127.0.0.1:{lb_port}"
            baseline = rss_kib(lb.pid)
            rows = []
            curl = ["curl", "-sS"]
            seconds, peak, _ = measure(lb.pid, [*curl, "-o", "/dev/null", f"{url}/download?bytes={size}"])
            rows.append(("download", seconds, peak))
            # "Expect:" turns off curl's wait for 100 Continue, which this backend never sends.
            seconds, peak, out = measure(lb.pid, [*curl, "-H", "Expect:", "-T", upload, f"{url}/upload"])
            if out != str(size):
                sys.exit(f"upload: the backend received {out} bytes, expected {size}")
            rows.append(("upload", seconds, peak))
        finally:
            lb.terminate()
            lb.wait(10)
            log.seek(0)
            problems = [line for line in log if "WARNING" in line or "ERROR" in line]
            if problems:
                print("laneway logged:\n" + "".join(problems[-10:]), file=sys.stderr)
    gib = size / (1 << 30)
    print("| transfer | size | seconds | MiB/s | laneway RSS before | peak RSS during |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seconds, peak in rows:
        print(f"| {name} | {gib:g} GiB | {seconds:.2f} | {size / (1 << 20) / seconds:.0f} | "
              f"{baseline / 1024:.1f} MiB | {peak / 1024:.1f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
