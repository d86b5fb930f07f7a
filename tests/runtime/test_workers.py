"""``workers: 2``: the real ``laneway run`` command, its supervisor and two worker processes,
in front of real backends, driven over real sockets and signals (docs/workers.md)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.process import Running, laneway
from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread
from tests.tls.support import Pki

DEADLINE = 20.0  # seconds any condition below may take to come true


def config_text(backends: list[Backend], *, interval: str = "200ms", extra_pool: str = "") -> str:
    servers = ", ".join(f'{{address: "{host}:{port}"}}' for host, port in (b.address for b in backends))
    return f"""\
workers: 2
listeners:
  - name: web
    bind: 127.0.0.1:0
    routes: [{{pool: app}}]
pools:
  app:
    algorithm: round_robin
    retries: 0
    servers: [{servers}]
    health_check: {{path: /health, interval: {interval}, timeout: 150ms, rise: 1, fall: 1, jitter: 0}}
{extra_pool}admin: {{bind: "127.0.0.1:0"}}
shutdown_grace: 2s
"""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


@dataclass
class Instance:
    running: Running
    path: Path
    proxy: str
    admin: httpx.Client

    def workers(self) -> list[dict[str, Any]]:
        workers: list[dict[str, Any]] = self.admin.get("/api/workers").json()
        return workers

    def server(self, address: tuple[str, int]) -> dict[str, Any]:
        servers = self.admin.get("/api/servers").json()
        return next(s for s in servers if s["address"] == f"{address[0]}:{address[1]}")

    def get(self, path: str = "/") -> httpx.Response:
        """A request on a new connection, so the kernel picks a worker for each."""
        return httpx.get(self.proxy + path.lstrip("/"), headers={"Connection": "close"}, trust_env=False,
                         timeout=10)

    def metric(self, name: str) -> float:
        lines = self.admin.get("/metrics").text.splitlines()
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + "{"))


@pytest.fixture
def backends(loop_thread: LoopThread) -> Iterator[list[Backend]]:
    started = [loop_thread.run(Backend(f"app{index}").start()) for index in range(2)]
    yield started
    for backend in started:
        loop_thread.run(backend.stop())


@contextlib.contextmanager
def started(path: Path, text: str) -> Iterator[Instance]:
    """``laneway run`` of ``text`` (written to ``path``), once its workers serve."""
    path.write_text(text, encoding="utf-8")
    with Running("run", "-c", str(path)) as running:
        admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        proxy = running.wait_for(r"listener web: listening on (http://\S+)", stream="stderr").group(1)
        running.wait_for(r"running .* with 2 workers", stream="stderr")
        with httpx.Client(base_url=admin, trust_env=False, timeout=10) as client:
            yield Instance(running, path, proxy, client)


@pytest.fixture
def instance(tmp_path: Path, backends: list[Backend]) -> Iterator[Instance]:
    with started(tmp_path / "laneway.yaml", config_text(backends)) as running:
        yield running


def real_requests(backend: Backend) -> int:
    return sum(1 for request in backend.requests if request.path != "/health")


def both_workers_serve(instance: Instance, before: list[int], limit: int = 200, *, each: int = 1,
                       send: Callable[[int], httpx.Response] | None = None) -> int:
    """Send requests (``send(n)``; by default ``instance.get``, a new connection each) until
    each worker has served ``each`` of them since ``before`` (their requests_total then);
    returns how many were sent. The admin API asks the workers for their counters before it
    answers, so they include every request sent."""
    for sent in range(1, limit + 1):
        response = send(sent) if send is not None else instance.get(f"/n{sent}")
        assert response.status_code == 200
        now = [worker["requests_total"] for worker in instance.workers()]
        assert sum(now) - sum(before) == sent
        if all(count - earlier >= each for count, earlier in zip(now, before, strict=True)):
            return sent
    raise AssertionError(f"{limit} requests did not reach both workers {each} times: {instance.workers()}")


def test_two_workers_share_the_port_and_the_totals_add_up(instance: Instance,
                                                          backends: list[Backend]) -> None:
    workers = instance.workers()
    assert [worker["slot"] for worker in workers] == [0, 1]
    assert all(worker["alive"] for worker in workers)
    pids = [worker["pid"] for worker in workers]
    assert len(set(pids)) == 2
    assert all(parent_of(pid) == instance.running.process.pid for pid in pids)
    assert all(worker["memory_bytes"] > 10 * 1024 * 1024 for worker in workers)
    sent = both_workers_serve(instance, [0, 0])
    # /metrics shows the whole instance: every request, whichever worker served it.
    assert instance.metric("laneway_server_requests_total") == sent
    assert instance.metric("laneway_server_responses_total") == sent
    assert instance.metric("laneway_worker_up") == 2
    assert instance.metric("laneway_worker_resident_memory_bytes") > 20 * 1024 * 1024
    assert sum(real_requests(backend) for backend in backends) == sent


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


def test_one_prober_and_every_worker_follows_its_verdict(instance: Instance, backends: list[Backend],
                                                         loop_thread: LoopThread) -> None:
    healthy, doomed = backends
    # Health checks every 200ms without jitter, from one process: within a window of W
    # seconds at most W / 0.2 + 1 probes reach a backend. Two probers would send twice that.
    start_count, started = sum(1 for r in healthy.requests if r.path == "/health"), time.monotonic()
    wait_until(lambda: time.monotonic() - started >= 2.0, "two seconds pass")
    probes = sum(1 for r in healthy.requests if r.path == "/health") - start_count
    window = time.monotonic() - started
    assert 2 <= probes <= window / 0.2 + 1, f"{probes} probes in {window:.2f}s"

    doomed_address = doomed.address
    loop_thread.run(doomed.stop())
    wait_until(lambda: instance.server(doomed_address)["health"] == "down", "the supervisor sees it down")
    before = real_requests(healthy)
    # retries: 0, so a request sent to the stopped backend would fail: every worker must know.
    sent = both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])
    healthy_count = real_requests(healthy)
    assert healthy_count - before == sent


def test_an_admin_drain_reaches_every_worker(instance: Instance, backends: list[Backend]) -> None:
    kept, drained = backends
    address = f"{drained.address[0]}:{drained.address[1]}"
    changed = instance.admin.put(f"/api/pools/app/servers/{address}/state", json={"state": "drain"})
    assert changed.status_code == 200, changed.text
    before = real_requests(drained), real_requests(kept)
    sent = both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])
    assert real_requests(drained) == before[0]
    assert real_requests(kept) - before[1] == sent


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


def test_workers_1_is_one_process_as_before(tmp_path: Path, backends: list[Backend]) -> None:
    path = tmp_path / "laneway.yaml"
    path.write_text(config_text(backends).replace("workers: 2", "workers: 1"), encoding="utf-8")
    with Running("run", "-c", str(path)) as running:
        admin = running.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        proxy = running.wait_for(r"listener web: listening on (http://\S+)", stream="stderr").group(1)
        assert httpx.get(proxy, trust_env=False, timeout=10).status_code == 200
        workers = httpx.get(f"{admin}/api/workers", trust_env=False, timeout=10).json()
        assert [(w["slot"], w["pid"], w["requests_total"]) for w in workers] == [(0, running.process.pid, 1)]
        children = Path(f"/proc/{running.process.pid}/task/{running.process.pid}/children").read_text()
        assert children.split() == []
        assert running.stop(signal.SIGTERM) == 0


def test_a_sticky_split_cookie_from_one_worker_holds_at_every_worker(tmp_path: Path,
                                                                     backends: list[Backend]) -> None:
    # No secret in the file: the instance makes one at start, and every worker must share it.
    text = config_text(backends).replace("routes: [{pool: app}]", """routes:
      - split: [{pool: a, weight: 1}, {pool: b, weight: 1}]
        sticky: {cookie: lw_arm}""")
    (first_host, first_port), (second_host, second_port) = (b.address for b in backends)
    text = text.replace("admin:", f"""  a:
    servers: [{{address: "{first_host}:{first_port}"}}]
  b:
    servers: [{{address: "{second_host}:{second_port}"}}]
admin:""")
    with started(tmp_path / "laneway.yaml", text) as instance:
        cookie = instance.get("/first").cookies["lw_arm"]
        arm = backends[0] if real_requests(backends[0]) else backends[1]
        before_arm = real_requests(arm)
        # Each worker serves at least 10: one whose signature check failed would send each
        # request to a random arm, and all 10 landing right has odds of 1 in 1024.
        sent = both_workers_serve(
            instance, [worker["requests_total"] for worker in instance.workers()], each=10,
            send=lambda n: httpx.get(f"{instance.proxy}n{n}", trust_env=False, timeout=10,
                                     headers={"Connection": "close", "Cookie": f"lw_arm={cookie}"}))
        assert real_requests(arm) - before_arm == sent, "every request stayed on the cookie's arm"


def test_a_server_added_through_the_admin_api_reaches_every_worker(
        instance: Instance, backends: list[Backend], loop_thread: LoopThread) -> None:
    added = loop_thread.run(Backend("added").start())
    try:
        address = f"{added.address[0]}:{added.address[1]}"
        response = instance.admin.post("/api/pools/app/servers", json={"address": address})
        assert response.status_code == 201, response.text
        wait_until(lambda: instance.server(added.address)["health"] == "up", "its health checks pass")
        for kept in backends:
            changed = instance.admin.put(f"/api/pools/app/servers/{kept.address[0]}:{kept.address[1]}/state",
                                         json={"state": "drain"})
            assert changed.status_code == 200
        sent = both_workers_serve(instance, [w["requests_total"] for w in instance.workers()])
        assert real_requests(added) == sent
    finally:
        loop_thread.run(added.stop())


def test_a_tls_listener_is_shared_too(tmp_path: Path, backends: list[Backend]) -> None:
    pki = Pki(tmp_path)
    pair = pki.pair("localhost", "127.0.0.1")
    text = config_text(backends).replace("    bind: 127.0.0.1:0\n", f"""    bind: 127.0.0.1:0
    tls: {{certificates: [{{cert: "{pair['cert']}", key: "{pair['key']}"}}]}}
""", 1)
    with started(tmp_path / "laneway.yaml", text) as instance:
        https = instance.proxy.replace("http://", "https://")
        context = pki.client_context()
        both_workers_serve(instance, [0, 0], send=lambda n: httpx.get(
            f"{https}t{n}", headers={"Connection": "close"}, verify=context, trust_env=False, timeout=10))


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


def test_laneway_ctl_workers_lists_them(instance: Instance) -> None:
    instance.get("/one")
    result = laneway("ctl", "--admin", str(instance.admin.base_url), "workers")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SLOT", "PID", "ALIVE", "RESTARTS", "REQUESTS", "IN_FLIGHT", "MEMORY_MIB"]
    pids = [str(worker["pid"]) for worker in instance.workers()]
    assert [row.split()[:4] for row in rows] == [["0", pids[0], "yes", "0"], ["1", pids[1], "yes", "0"]]
    assert sum(int(row.split()[4]) for row in rows) == 1


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


def test_a_persistence_cookie_from_one_worker_holds_at_every_worker(tmp_path: Path,
                                                                    backends: list[Backend]) -> None:
    # round robin would alternate; the cookie (signed with the instance's secret) must win.
    text = config_text(backends).replace("routes: [{pool: app}]",
                                         "routes: [{pool: app, persistence: {cookie: true}}]")
    with started(tmp_path / "laneway.yaml", text) as instance:
        cookie = instance.get("/first").cookies["laneway_server"]
        pinned = backends[0] if real_requests(backends[0]) else backends[1]
        before = real_requests(pinned)
        sent = both_workers_serve(
            instance, [worker["requests_total"] for worker in instance.workers()], each=10,
            send=lambda n: httpx.get(f"{instance.proxy}n{n}", trust_env=False, timeout=10,
                                     headers={"Connection": "close", "Cookie": f"laneway_server={cookie}"}))
        assert real_requests(pinned) - before == sent, "every request went to the cookie's server"
        route = instance.admin.get("/api/routes").json()[0]
        assert route["persistence"] == {"kind": "cookie", "cookie": "laneway_server", "entries": None}
