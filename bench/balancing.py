"""Micro-benchmark of the balancing algorithms: the cost of one request's bookkeeping.

One operation is ``pick()`` + ``on_start()`` + ``on_end()``, with 32 requests kept in flight
(each op starts one and ends the oldest) on a fake clock, so load-aware algorithms have real
loads to compare. Pools of 3, 100 and 10,000 servers with weights 1, 2, 3 in turn; the hash
algorithms get a different client address or key per request. The last columns are the
per-op cost at 10,000 servers over that at 100 (an O(log n) algorithm stays near 1, an O(n)
one would be near 100), and the cost of ``update()`` with 10,000 servers: the first one, which
builds everything, and one where a server comes back (a health flip, the common case).

Run from the repository root:  python bench/balancing.py  [--ops 20000] [--repeat 3]
It prints a Markdown table (docs/balancing.md has one). Timings are the best of ``--repeat``
runs, with time.perf_counter; they are for comparing algorithms and sizes on one machine.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from laneway.balancing import ALGORITHMS, Balancer, PickContext, create

SIZES = (3, 100, 10_000)
IN_FLIGHT = 32


@dataclass(frozen=True)
class Server:
    key: str
    weight: int


def pool(size: int) -> list[Server]:
    return [Server(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}:8080", 1 + i % 3) for i in range(size)]


def contexts(count: int) -> list[PickContext]:
    rng = random.Random(1)
    return [PickContext(client_address=f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
                        hash_key=f"session-{rng.getrandbits(48):x}") for _ in range(count)]


def measure(name: str, size: int, ops: int, context_list: list[PickContext]) -> tuple[float, float, float]:
    """Seconds per operation, for the first update(), and for an update() bringing one server back."""
    balancer: Balancer[Server] = create(name, random.Random(42))
    servers = pool(size)
    started = time.perf_counter()
    balancer.update(servers, 0.0)
    first_update = time.perf_counter() - started
    balancer.update(servers[1:], 0.0)
    started = time.perf_counter()
    balancer.update(servers, 0.0)
    flip_update = time.perf_counter() - started
    in_flight: deque[Server] = deque()
    pick, on_start, on_end = balancer.pick, balancer.on_start, balancer.on_end
    count = len(context_list)
    now = 0.0
    started = time.perf_counter()
    for op in range(ops):
        now += 0.0001
        target = pick(context_list[op % count], now)
        assert target is not None
        on_start(target, now)
        in_flight.append(target)
        if len(in_flight) > IN_FLIGHT:
            on_end(in_flight.popleft(), now, 0.0032, False)
    elapsed = time.perf_counter() - started
    return elapsed / ops, first_update, flip_update


def milliseconds(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=20_000, help="operations per algorithm and size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is kept")
    args = parser.parse_args()
    context_list = contexts(4096)
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.ops} ops per cell, "
          f"best of {args.repeat}; microseconds per pick + on_start + on_end\n")
    header = ["algorithm", *(f"{size:,} servers" for size in SIZES), "10,000 / 100",
              "first update(10,000)", "one back, update(10,000)"]
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    for name in ALGORITHMS:
        per_op: dict[int, float] = {}
        first_ms = flip_ms = 0.0
        for size in SIZES:
            runs = [measure(name, size, args.ops, context_list) for _ in range(args.repeat)]
            per_op[size] = min(run[0] for run in runs)
            if size == SIZES[-1]:
                first_ms = min(run[1] for run in runs) * 1000
                flip_ms = min(run[2] for run in runs) * 1000
        cells = [f"{per_op[size] * 1e6:.2f}" for size in SIZES]
        ratio = per_op[10_000] / per_op[100]
        cells += [f"{ratio:.2f}x", milliseconds(first_ms), milliseconds(flip_ms)]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
