"""``laneway run``: serves a config until a signal; a bad config never binds."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.process import Running, laneway, refuses_connections
from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread


@pytest.fixture
def backend(loop_thread: LoopThread) -> Iterator[Backend]:
    """A recording backend (``tests.support.backend``) on the test's loop thread."""
    started = loop_thread.run(Backend("app").start())
    yield started
    loop_thread.run(started.stop())


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something is already listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def config(path: Path, bind: str, backend: tuple[str, int], *, weight: int = 1, workers: int | None = None
           ) -> Path:
    """``workers`` None: left out, one per core (with 2 cores or more, a supervisor and workers)."""
    path.write_text(("" if workers is None else f"workers: {workers}\n") + f"""\
listeners:
  - name: web
    bind: {bind}
    routes: [{{pool: app}}]
pools:
  app:
    servers: [{{address: "{backend[0]}:{backend[1]}", weight: {weight}}}]
shutdown_grace: 2s
""", encoding="utf-8")
    return path


def test_a_bad_config_exits_2_without_binding(tmp_path: Path, held_port: int) -> None:
    # The listener's port is taken: had laneway tried to bind it, it would exit 1, not 2.
    path = config(tmp_path / "bad.yaml", f"127.0.0.1:{held_port}", ("127.0.0.1", 9), weight=0)
    result = laneway("run", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: pools.app.servers[0].weight: must be >= 1, got 0" in result.stderr.splitlines()
    assert "listening" not in result.stderr


def test_a_missing_config_exits_2(tmp_path: Path) -> None:
    result = laneway("run", "-c", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


def test_a_port_in_use_exits_1(tmp_path: Path, held_port: int, backend: Backend) -> None:
    path = config(tmp_path / "laneway.yaml", f"127.0.0.1:{held_port}", backend.address)
    result = laneway("run", "-c", str(path))
    assert result.returncode == 1, result.stderr
    assert f"cannot start {path}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("workers", [1, 2])
def test_run_serves_until_a_signal_then_exits_0(
    tmp_path: Path, backend: Backend, signum: signal.Signals, workers: int
) -> None:
    path = config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address, workers=workers)
    with Running("run", "-c", str(path)) as running:
        match = running.wait_for(r"listener web: listening on http://127\.0\.0\.1:(\d+)/", stream="stderr")
        port = int(match.group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for target in ("/", "/a/b?c=d"):
                response = client.get(target)
                assert (response.status_code, response.text) == (200, "ok")
                assert response.headers["x-backend"] == "app"
        assert [request.target for request in backend.requests] == ["/", "/a/b?c=d"]
        assert running.stop(signum) == 0, running.output()
        assert f"received {signum.name}" in running.output()
        assert "stopped" in running.stderr[-1]
    assert refuses_connections(("127.0.0.1", port))


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_the_file_and_a_bad_one_changes_nothing(
    tmp_path: Path, backend: Backend, loop_thread: LoopThread, workers: int
) -> None:
    other = loop_thread.run(Backend("other").start())
    try:
        path = config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address, workers=workers)
        with Running("run", "-c", str(path)) as running:
            port = int(running.wait_for(r"listening on http://127\.0\.0\.1:(\d+)/", stream="stderr").group(1))
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                assert client.get("/").headers["x-backend"] == "app"
                config(path, "127.0.0.1:0", backend.address, weight=0, workers=workers)  # a mistake
                running.process.send_signal(signal.SIGHUP)
                running.wait_for(r"reload of .* rejected; still running the previous config", stream="stderr")
                assert any("weight: must be >= 1" in line for line in running.stderr)
                assert client.get("/").headers["x-backend"] == "app"
                config(path, "127.0.0.1:0", other.address, workers=workers)
                running.process.send_signal(signal.SIGHUP)
                running.wait_for(r"config reloaded", stream="stderr")
                assert client.get("/").headers["x-backend"] == "other", "same connection, new config"
            assert running.stop(signal.SIGTERM) == 0, running.output()
    finally:
        loop_thread.run(other.stop())
