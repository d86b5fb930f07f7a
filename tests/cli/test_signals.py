"""Signals that reach laneway while it starts: kept for when it is up, never fatal.

SIGHUP's default action ends a process, so a reload sent just after ``laneway run`` began
(a deploy script's start-then-reload) would kill a laneway that had not yet said it was up.
Run in a child process, so that a failure cannot take the test run down with it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

KEEPS_SIGNALS = textwrap.dedent("""
    import asyncio, os, signal
    from laneway.cli import loop

    async def main():
        with loop.StopSignals(keep=loop.LATER_SIGNALS) as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(500):  # at most 5 s
                if len(stop.later) == 2:
                    break
                await asyncio.sleep(0.01)
            return sorted(signum.name for signum in stop.later)

    print(loop.run(main()))
""")


def test_a_reload_or_reopen_signal_while_starting_is_kept_for_later() -> None:
    result = subprocess.run([sys.executable, "-c", KEEPS_SIGNALS], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['SIGHUP', 'SIGUSR1']"
