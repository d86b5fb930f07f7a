"""``POST /api/reload`` against a running ``laneway run``: the file it was started with is
read again; a good one runs, a bad one is answered with its problems and changes nothing."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.admin.conftest import TOKEN, Admin
from tests.cli.process import Running
from tests.cli.test_run import backend, config  # noqa: F401  (fixtures)
from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread

ADMIN = 'admin: {bind: "127.0.0.1:0", token_env: LANEWAY_ADMIN_TOKEN}\n'


def write(path: Path, backend_address: tuple[str, int], *, weight: int = 1, extra: str = "") -> None:
    config(path, "127.0.0.1:0", backend_address, weight=weight)
    path.write_text(path.read_text(encoding="utf-8") + ADMIN + extra, encoding="utf-8")


def test_reload_runs_a_good_file_and_a_bad_one_changes_nothing(
    tmp_path: Path, backend: Backend, loop_thread: LoopThread  # noqa: F811
) -> None:
    other = loop_thread.run(Backend("other").start())
    path = tmp_path / "laneway.yaml"
    try:
        write(path, backend.address)
        with Running("run", "-c", str(path), env={"LANEWAY_ADMIN_TOKEN": TOKEN}) as running:
            admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
            proxy = running.wait_for(r"listener web: listening on (http://\S+)", stream="stderr").group(1)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=admin, trust_env=False, timeout=10) as api, \
                    httpx.Client(base_url=proxy, trust_env=False, timeout=10) as client:
                assert client.get("/").headers["x-backend"] == "app"
                assert api.post("/api/reload").status_code == 401, "a reload needs the token"

                write(path, other.address, weight=0)  # a mistake
                rejected = api.post("/api/reload", headers=auth)
                assert rejected.status_code == 422, rejected.text
                body = rejected.json()
                assert body["field"] == "config" and body["source"] == str(path)
                assert any("weight: must be >= 1" in problem for problem in body["problems"]), body
                assert "nothing was changed" in body["error"]
                assert client.get("/").headers["x-backend"] == "app", "the previous config still runs"
                servers = api.get("/api/servers").json()
                assert [s["address"] for s in servers] == [f"{backend.address[0]}:{backend.address[1]}"]

                write(path, other.address)
                done = api.post("/api/reload", headers=auth)
                assert done.status_code == 200, done.text
                assert done.json() == {"reloaded": True, "source": str(path), "warnings": []}
                assert client.get("/").headers["x-backend"] == "other"
                servers = api.get("/api/servers").json()
                assert [s["address"] for s in servers] == [f"{other.address[0]}:{other.address[1]}"]
            running.wait_for(r"reloading .* \(admin API\)", stream="stderr")
            assert running.stop(signal.SIGTERM) == 0, running.output()
    finally:
        loop_thread.run(other.stop())


def test_a_valid_file_that_cannot_run_answers_409(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    path = tmp_path / "laneway.yaml"
    write(path, backend.address)
    environment = {"LANEWAY_ADMIN_TOKEN": TOKEN}
    with socket.socket() as held, Running("run", "-c", str(path), env=environment) as running:
        held.bind(("127.0.0.1", 0))
        held.listen()
        admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        port = held.getsockname()[1]
        second = f"  - name: second\n    bind: 127.0.0.1:{port}\n    routes: [{{pool: app}}]\n"
        text = path.read_text(encoding="utf-8").replace("pools:\n", second + "pools:\n")
        path.write_text(text, encoding="utf-8")
        answer = httpx.post(f"{admin}/api/reload", headers={"Authorization": f"Bearer {TOKEN}"},
                            trust_env=False, timeout=10)
        assert answer.status_code == 409, answer.text
        assert answer.json()["problems"], answer.text
        listeners = httpx.get(f"{admin}/api/listeners", trust_env=False, timeout=10).json()
        assert [listener["name"] for listener in listeners] == ["web"]
        assert running.stop(signal.SIGTERM) == 0, running.output()


def test_a_reload_from_another_origin_is_refused(tmp_path: Path, backend: Backend) -> None:  # noqa: F811
    # Without a token, a page on another site could POST here without a CORS preflight.
    path = config(tmp_path / "laneway.yaml", "127.0.0.1:0", backend.address)
    path.write_text(path.read_text(encoding="utf-8") + 'admin: {bind: "127.0.0.1:0"}\n', encoding="utf-8")
    with Running("run", "-c", str(path)) as running:
        admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        with httpx.Client(base_url=admin, trust_env=False, timeout=10) as api:
            refused = api.post("/api/reload", headers={"Origin": "http://evil.example"})
            assert refused.status_code == 403, refused.text
            assert refused.json()["field"] == "Origin"
            same = api.post("/api/reload", headers={"Origin": admin})
            assert same.status_code == 200, same.text
        assert running.stop(signal.SIGTERM) == 0, running.output()
    assert "reloading" in running.output()


def test_without_a_config_file_there_is_nothing_to_reload(admin: Callable[..., Admin]) -> None:
    running = admin()
    with running.client() as api:
        answer = api.post("/api/reload")
    assert answer.status_code == 409
    assert "not started from a config file" in answer.json()["error"]
