"""``laneway run`` with an admin block: it starts with laneway, stops after it, and a
problem with it stops laneway from starting at all."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.cli.process import Running, laneway, refuses_connections
from tests.cli.test_run import backend, config, held_port  # noqa: F401  (fixtures)
from tests.support.backend import Backend


def with_admin(path: Path, admin: str) -> Path:
    path.write_text(path.read_text(encoding="utf-8") + f"admin: {admin}\n", encoding="utf-8")
    return path


def test_an_admin_port_in_use_exits_1(tmp_path: Path, held_port: int, backend: Backend) -> None:  # noqa: F811
    path = with_admin(config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address),
                      f'{{bind: "127.0.0.1:{held_port}"}}')
    result = laneway("run", "-c", str(path))
    assert result.returncode == 1, result.stderr
    assert f"cannot start the admin listener on 127.0.0.1:{held_port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unset_token_env_exits_1(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    path = with_admin(config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address),
                      '{bind: "127.0.0.1:0", token_env: LANEWAY_TEST_UNSET_TOKEN}')
    result = laneway("run", "-c", str(path))
    assert result.returncode == 1, result.stderr
    assert ("admin.token_env: the environment variable LANEWAY_TEST_UNSET_TOKEN is not set or empty"
            in result.stderr)


def test_admin_listener_lives_and_stops_with_laneway(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    path = with_admin(config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address),
                      '{bind: "127.0.0.1:0"}')
    with Running("run", "-c", str(path)) as running:
        url = running.wait_for(r"admin listener on (http://127\.0\.0\.1:(\d+))", stream="stderr")
        assert "no token: open to this machine only" in running.output()
        ready = httpx.get(f"{url.group(1)}/health/ready", trust_env=False, timeout=10)
        assert ready.status_code == 200, ready.text
        assert running.stop(signal.SIGTERM) == 0, running.output()
        assert "admin.shutdown_delay" not in running.output(), "the reloaded admin block is not used"
    assert refuses_connections(("127.0.0.1", int(url.group(2))))


def test_not_ready_for_shutdown_delay_while_still_serving(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    path = with_admin(config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address),
                      '{bind: "127.0.0.1:0", shutdown_delay: 3s}')
    with Running("run", "-c", str(path)) as running:
        admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        proxy = running.wait_for(r"listener web: listening on (http://\S+)", stream="stderr").group(1)
        with httpx.Client(trust_env=False, timeout=10) as client:
            assert client.get(f"{admin}/health/ready").status_code == 200
            running.process.send_signal(signal.SIGTERM)
            running.wait_for(r"/health/ready answers 503; still serving for 3s", stream="stderr")
            ready = client.get(f"{admin}/health/ready")
            assert ready.status_code == 503
            assert ready.json()["reasons"] == ["laneway is shutting down"]
            # A new connection to the proxy is still accepted and served.
            response = client.get(proxy, headers={"Connection": "close"})
            assert response.status_code == 200
        assert running.wait() == 0, running.output()


def test_a_reload_says_an_admin_change_waits_for_a_restart(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    path = config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address)
    text = path.read_text(encoding="utf-8")
    with_admin(path, '{bind: "127.0.0.1:0"}')
    with Running("run", "-c", str(path)) as running:
        url = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        path.write_text(text + 'admin: {bind: "127.0.0.1:0", shutdown_delay: 1s}\n', encoding="utf-8")
        running.process.send_signal(signal.SIGHUP)
        running.wait_for(r"the admin block changed; it takes effect when laneway is restarted",
                         stream="stderr")
        running.wait_for(r"config reloaded", stream="stderr")
        assert httpx.get(f"{url}/health/ready", trust_env=False, timeout=10).status_code == 200
        assert running.stop(signal.SIGTERM) == 0, running.output()
        assert "admin.shutdown_delay" not in running.output(), "the reloaded admin block is not used"
