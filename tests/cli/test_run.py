"""``laneway run``: serves a config until a signal; a bad config never binds."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.cli.process import Running, laneway, refuses_connections


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello from the backend, path {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[0], server.server_address[1]  # type: ignore[misc]
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something is already listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def config(path: Path, bind: str, backend: tuple[str, int], *, weight: int = 1) -> Path:
    path.write_text(f"""\
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


def test_a_port_in_use_exits_1(tmp_path: Path, held_port: int, backend: tuple[str, int]) -> None:
    path = config(tmp_path / "laneway.yaml", f"127.0.0.1:{held_port}", backend)
    result = laneway("run", "-c", str(path))
    assert result.returncode == 1, result.stderr
    assert f"cannot start {path}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_until_a_signal_then_exits_0(
    tmp_path: Path, backend: tuple[str, int], signum: signal.Signals
) -> None:
    path = config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend)
    with Running("run", "-c", str(path)) as running:
        match = running.wait_for(r"listener web: listening on http://127\.0\.0\.1:(\d+)/", stream="stderr")
        port = int(match.group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for path_ in ("/", "/a/b?c=d"):
                response = client.get(path_)
                assert response.status_code == 200
                assert response.text == f"hello from the backend, path {path_}\n"
        assert running.stop(signum) == 0, running.output()
        assert f"received {signum.name}" in running.output()
        assert "stopped" in running.stderr[-1]
    assert refuses_connections(("127.0.0.1", port))
