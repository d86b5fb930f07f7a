"""The supervisor of ``workers: 2`` (laneway/runtime/supervisor.py), driven by signals:
a dead worker started again (with a back-off), reloads reaching every worker, SIGTERM
draining them, SIGUSR1 passed on, and no process left behind (docs/workers.md)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.runtime.workers import (
    Instance,
    both_workers_serve,
    config_text,
    gone,
    real_requests,
    started,
    wait_until,
)
from tests.support.backend import Backend
from tests.tls.support import Pki


def test_a_killed_worker_is_started_again(instance: Instance) -> None:
    victim = instance.workers()[0]
    os.kill(victim["pid"], signal.SIGKILL)
    # The other worker keeps the port open: requests are answered throughout.
    for index in range(10):
        assert instance.get(f"/during{index}").status_code == 200
    def replaced() -> dict[str, Any] | None:
        return next((w for w in instance.workers()
                     if w["slot"] == 0 and w["alive"] and w["pid"] != victim["pid"]), None)

    restarted = wait_until(replaced, "slot 0 runs a new worker")
    assert restarted["restarts"] == 1
    assert instance.metric("laneway_worker_restarts_total") == 1
    assert gone(victim["pid"])
    instance.running.wait_for(r"worker 0 \(pid \d+\) exited with signal SIGKILL", stream="stderr")
    both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])


def test_sighup_reload_reaches_every_worker(instance: Instance, backends: list[Backend]) -> None:
    first, second = backends
    # The pool keeps only the second backend, and a new listener asks for a free port.
    text = config_text([second]).replace("pools:", """  - name: extra
    bind: 127.0.0.1:0
    routes: [{pool: app}]
pools:""")
    instance.path.write_text(text, encoding="utf-8")
    instance.running.process.send_signal(signal.SIGHUP)
    for slot in (0, 1):
        instance.running.wait_for(rf"\[worker {slot}\] laneway: worker: running the reloaded config",
                                  stream="stderr")
    instance.running.wait_for(r"laneway: config reloaded: 2 listener\(s\), 1 pool\(s\), in every worker",
                              stream="stderr")
    wait_until(lambda: [s["address"] for s in instance.admin.get("/api/servers").json()]
               == [f"{second.address[0]}:{second.address[1]}"], "the supervisor runs the new config")
    before = real_requests(first), real_requests(second)
    sent = both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])
    assert real_requests(first) == before[0]
    assert real_requests(second) - before[1] == sent
    # Every worker listens on the one port the supervisor reserved for the new listener.
    extra = next(listener for listener in instance.admin.get("/api/listeners").json()
                 if listener["name"] == "extra")
    extra_port = int(extra["address"].rsplit(":", 1)[1])
    both_workers_serve(instance, [w["requests_total"] for w in instance.workers()],
                       send=lambda n: httpx.get(f"http://127.0.0.1:{extra_port}/x{n}", trust_env=False,
                                                headers={"Connection": "close"}, timeout=10))


def test_a_reload_cannot_change_the_number_of_workers(instance: Instance, backends: list[Backend]) -> None:
    instance.path.write_text(config_text(backends).replace("workers: 2", "workers: 3"), encoding="utf-8")
    done = instance.admin.post("/api/reload", headers={"Content-Type": "application/json"})
    assert done.status_code == 200, done.text
    assert any("workers changed" in warning for warning in done.json()["warnings"])
    assert len(instance.workers()) == 2


def test_a_rejected_reload_changes_no_worker(instance: Instance, backends: list[Backend]) -> None:
    instance.path.write_text(config_text(backends).replace("retries: 0", "retries: -1"), encoding="utf-8")
    rejected = instance.admin.post("/api/reload", headers={"Content-Type": "application/json"})
    assert rejected.status_code == 422, rejected.text
    assert "retries" in rejected.text
    assert "config reloaded" not in instance.running.output()
    assert "running the reloaded config" not in instance.running.output()
    assert all(worker["alive"] for worker in instance.workers())
    assert instance.get("/after").status_code == 200


def test_sigterm_ends_every_process(instance: Instance) -> None:
    pids = [worker["pid"] for worker in instance.workers()]
    assert instance.running.stop(signal.SIGTERM) == 0, instance.running.output()
    assert all(gone(pid) for pid in pids)


def test_a_supervisor_that_dies_leaves_no_worker_behind(instance: Instance) -> None:
    pids = [worker["pid"] for worker in instance.workers()]
    instance.running.process.kill()
    instance.running.process.wait(10)
    wait_until(lambda: all(gone(pid) for pid in pids), "the workers exit once the supervisor is gone")


def test_sigusr1_reopens_every_workers_access_log(tmp_path: Path, backends: list[Backend]) -> None:
    log_file, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    text = config_text(backends) + f"access_log: {{path: {log_file}, format: json}}\n"
    with started(tmp_path / "laneway.yaml", text) as instance:
        both_workers_serve(instance, [0, 0])
        wait_until(lambda: log_file.exists() and log_file.read_text().count("\n") >= 2, "lines are written")
        log_file.rename(rotated)
        instance.running.process.send_signal(signal.SIGUSR1)
        for slot in (0, 1):
            instance.running.wait_for(rf"\[worker {slot}\] laneway: access log .* reopened", stream="stderr")
        sent = both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])
        wait_until(lambda: log_file.exists() and log_file.read_text().count("\n") == sent,
                   "every worker writes to the new file")


def test_a_worker_that_cannot_start_is_retried_later_and_later(tmp_path: Path,
                                                               backends: list[Backend]) -> None:
    pki = Pki(tmp_path)
    pair = pki.pair("localhost", "127.0.0.1")
    text = config_text(backends).replace("    bind: 127.0.0.1:0\n", f"""    bind: 127.0.0.1:0
    tls: {{certificates: [{{cert: "{pair['cert']}", key: "{pair['key']}"}}]}}
""", 1)
    key = Path(pair["key"])
    with started(tmp_path / "laneway.yaml", text) as instance:
        # Without its key file, a new worker cannot start: it exits at once, every time.
        key_text = key.read_text()
        key.unlink()
        for worker in instance.workers():
            os.kill(worker["pid"], signal.SIGKILL)
        # It had run under 10s (the test just started it): each short life doubles the wait.
        for cause, delay in (("signal SIGKILL", "0.5"), ("status 1", "1.0"), ("status 1", "2.0")):
            instance.running.wait_for(rf"worker 0 \(pid \d+\) exited with {cause} after [\d.]+s; "
                                      rf"starting it again in {delay}s", stream="stderr")
        # No worker accepts: not ready, so a balancer in front stops sending.
        ready = instance.admin.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"] == [
            "no listener accepts connections yet (starting, or every worker is being started again)"]
        key.write_text(key_text)
        wait_until(lambda: all(worker["alive"] for worker in instance.workers()), "the workers run again")
        assert instance.workers()[0]["restarts"] >= 3
        wait_until(lambda: instance.admin.get("/health/ready").status_code == 200, "ready once they accept")
        https = instance.proxy.replace("http://", "https://")
        assert httpx.get(f"{https}again", verify=pki.client_context(), trust_env=False,
                         timeout=10).status_code == 200


def test_sigterm_lets_a_workers_request_under_way_finish(instance: Instance, backends: list[Backend]) -> None:
    pids = [worker["pid"] for worker in instance.workers()]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(instance.get, "/held?hold=1")
        wait_until(lambda: any(backend.holding for backend in backends), "the request reaches a backend")
        instance.running.process.send_signal(signal.SIGTERM)
        instance.running.wait_for(r"stopping: the workers let requests under way finish", stream="stderr")
        for slot in (0, 1):  # every worker has stopped accepting, one still has a request under way
            instance.running.wait_for(rf"\[worker {slot}\] laneway: stopping: not accepting", stream="stderr")
        assert instance.running.process.poll() is None, "the supervisor waits for the worker's request"
        for backend in backends:
            if backend.holding:
                backend.release()
        assert held.result(timeout=10).status_code == 200
    assert instance.running.wait() == 0, instance.running.output()
    assert all(gone(pid) for pid in pids)
