#!/usr/bin/env python3
"""Fuzz laneway's C twins under AddressSanitizer and UndefinedBehaviorSanitizer.

A C twin reads what servers send: a memory error in it is an incident, and a Python test
that passes can still hide one (an out-of-bounds read usually returns the right answer).
This builds each twin with the sanitizers into a temporary directory, feeds it generated
input for ``--seconds`` and checks, on every input, that it agrees with its Python version
wherever it answers (it may decline an input, leaving it to Python). A sanitizer finding
aborts the run with its report; a disagreement is printed and fails it.

    python3 .ci/fuzz_c_twins.py                 # 30 s
    python3 .ci/fuzz_c_twins.py --seconds 300 --seed 7

Needs gcc with libasan (Debian's gcc has it) and Python's headers.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS_C = ROOT / "laneway" / "http" / "_fields.c"
SANITIZERS = "-fsanitize=address,undefined"
CHILD = "LANEWAY_FUZZ_BUILD"  # set in the re-executed process: where the sanitized build is

# Field names and values near the ones the reader looks for: prefixes, case, separators.
NAMES = [b"Content-Length", b"content-length", b"Transfer-Encoding", b"Transfer-Encodin",
         b"Transfer-Encodingg", b"Connection", b"CONNECTION", b"Upgrade", b"Keep-Alive", b"TE", b"Te",
         b"Trailer", b"Proxy-Connection", b"Proxy-Authenticate", b"Proxy-Authorization", b"X-A", b"X",
         b"Q", b""]
VALUES = [b"", b"0", b"3", b"Q", b"chunked", b"gzip, chunked", b"chunked, gzip", b"close",
          b"keep-alive", b"Keep-Alive, Upgrade", b"websocket", b" x ", b"\t", b"a,b", b"x" * 300]
SEPARATORS = [b": ", b":", b":  ", b":\t", b""]
NOISE = b"\r\n: \tCcKkTtUuPpXx-,0123456789"


def a_head(rng: random.Random) -> bytes:
    """A response head: mostly well formed, some with random bytes, some cut short."""
    roll = rng.random()
    if roll < 0.6:
        lines = [b"HTTP/1.1 200 OK"]
        for _ in range(rng.randrange(0, 9)):
            lines.append(rng.choice(NAMES) + rng.choice(SEPARATORS) + rng.choice(VALUES))
        return b"\r\n".join(lines) + b"\r\n\r\n"
    if roll < 0.8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))) + b"\r\n\r\n"
    head = bytes(rng.choice(NOISE) for _ in range(rng.randrange(0, 96)))
    return head + b"\r\n\r\n" if rng.random() < 0.7 else head


def build(directory: Path) -> None:
    include = sysconfig.get_paths()["include"]
    target = directory / f"_fields{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer", SANITIZERS,
                    "-fno-sanitize-recover=all", f"-I{include}", str(FIELDS_C), "-o", str(target)],
                   check=True)


def fuzz(seconds: float, seed: int) -> int:
    sys.path.insert(0, os.environ[CHILD])
    sys.path.insert(1, str(ROOT))
    import _fields  # type: ignore[import-not-found]  # the sanitized build

    from laneway.http.response_head import read_response_head_python

    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    tried = declined = disagreed = 0
    while time.monotonic() < deadline:
        head = a_head(rng)
        tried += 1
        answer = _fields.read_response_head(head)
        if answer is None:
            declined += 1
            continue
        try:
            expected: object = read_response_head_python(head)
        except Exception as error:  # the C answered an input Python cannot read
            expected = error
        if answer != expected:
            disagreed += 1
            if disagreed <= 5:
                print(f"disagree on {head!r}:\n  C      {answer!r}\n  Python {expected!r}")
    print(f"_fields.c: {tried:,} heads in {seconds:g} s (seed {seed}), {declined:,} left to Python, "
          f"{disagreed} disagreements, no sanitizer finding")
    return 1 if disagreed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    if CHILD in os.environ:
        return fuzz(args.seconds, args.seed)
    with tempfile.TemporaryDirectory(prefix="laneway-fuzz-") as directory:
        build(Path(directory))
        asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], check=True, capture_output=True,
                              text=True).stdout.strip()
        if not os.path.isabs(asan):  # gcc prints the bare name when it has no such file
            print("gcc has no AddressSanitizer runtime: install it (Debian: apt-get install libasan8)")
            return 2
        # Python itself is not built with ASan, so the runtime is preloaded. PYTHONMALLOC=malloc:
        # every object its own allocation, so that reading past a bytes object is caught (in
        # pymalloc's arenas it would read the next object unseen). CPython does not free
        # everything at exit by design, hence no leak report.
        env = {**os.environ, CHILD: directory, "LD_PRELOAD": asan, "PYTHONMALLOC": "malloc",
               "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1"}
        child = [sys.executable, __file__, "--seconds", str(args.seconds), "--seed", str(args.seed)]
        return subprocess.run(child, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
