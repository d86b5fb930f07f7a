"""``laneway demo``: three demo servers and a balancer, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Iterator
from contextlib import suppress

import httpx
import pytest

from tests.cli.process import Running, refuses_connections

SERVER_LINE = r"demo server (\d) \((fast|slow)\) on 127\.0\.0\.1:(\d+)"


def demo_ports(running: Running) -> list[int]:
    running.wait_for(r"Press Ctrl-C to stop")
    return [int(match.group(3)) for line in running.stdout if (match := re.search(SERVER_LINE, line))]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_demo_balances_over_its_servers_and_stops_everything(signum: signal.Signals) -> None:
    with Running("demo", "--port", "0") as running:
        match = running.wait_for(r"curl (http://127\.0\.0\.1:(\d+)/)$")
        url, port = match.group(1), int(match.group(2))
        servers = demo_ports(running)
        assert len(servers) == 3
        assert [m.group(2) for line in running.stdout if (m := re.search(SERVER_LINE, line))] == \
            ["fast", "fast", "slow"]
        with httpx.Client() as client:
            bodies = [client.get(url).text for _ in range(6)]
            assert client.get(url + "health").text == "ok\n"
        # Round robin: each server answers every third request.
        assert sorted(set(bodies)) == [
            "hello from demo server 1 (fast)\n",
            "hello from demo server 2 (fast)\n",
            "hello from demo server 3 (slow)\n",
        ]
        assert all(bodies.count(body) == 2 for body in bodies)
        running.wait_for(r"demo server 3 \(slow\) answered GET / in \d+ ms", stream="stderr")
        assert running.stop(signum) == 0, running.output()
        running.wait_for(r"laneway demo stopped")
    for demo_port in [port, *servers]:
        assert refuses_connections(("127.0.0.1", demo_port)), demo_port


@pytest.fixture
def port_8080_taken() -> Iterator[None]:
    """Port 8080 is busy for the test: held by it, or already by something else."""
    with socket.socket() as sock:
        with suppress(OSError):
            sock.bind(("127.0.0.1", 8080))
            sock.listen()
        yield


def test_the_demo_moves_to_a_free_port_when_8080_is_busy(port_8080_taken: None) -> None:
    with Running("demo") as running:
        port = int(running.wait_for(r"curl http://127\.0\.0\.1:(\d+)/$").group(1))
        assert port != 8080
        running.wait_for(r"127\.0\.0\.1:8080 is busy; listening on a free port instead", stream="stderr")
        assert running.stop() == 0, running.output()


def test_a_busy_port_asked_for_exits_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with Running("demo", "--port", str(port)) as running:
            assert running.wait() == 1, running.output()
            assert f"cannot listen on 127.0.0.1:{port}" in running.output()
