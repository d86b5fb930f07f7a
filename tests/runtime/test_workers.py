"""``workers: 2``: the real ``laneway run`` command, its supervisor and two worker processes
serving real backends over real sockets: the port shared, the whole instance in the admin
API, one prober, admin changes and cookies honoured by every worker (docs/workers.md)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.cli.process import Running, laneway
from tests.runtime.workers import (
    Instance,
    both_workers_serve,
    config_text,
    parent_of,
    real_requests,
    started,
    wait_until,
)
from tests.support.backend import Backend
from tests.support.loop_thread import LoopThread
from tests.tls.support import Pki


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


def test_one_prober_and_every_worker_follows_its_verdict(instance: Instance, backends: list[Backend],
                                                         loop_thread: LoopThread) -> None:
    healthy, doomed = backends
    # Health checks every 200ms without jitter, from one process: within a window of W
    # seconds at most W / 0.2 + 1 probes reach a backend. Two probers would send twice that.
    start_count, since = sum(1 for r in healthy.requests if r.path == "/health"), time.monotonic()
    wait_until(lambda: time.monotonic() - since >= 2.0, "two seconds pass")
    probes = sum(1 for r in healthy.requests if r.path == "/health") - start_count
    window = time.monotonic() - since
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
    text = config_text(backends, health_checks=False).replace("routes: [{pool: app}]", """routes:
      - split: [{pool: a, weight: 1}, {pool: b, weight: 1}]
        sticky: {cookie: lw_arm}""")
    (first_host, first_port), (second_host, second_port) = (b.address for b in backends)
    text = text.replace("admin:", f"""  a:
    servers: [{{address: "{first_host}:{first_port}"}}]
  b:
    servers: [{{address: "{second_host}:{second_port}"}}]
admin:""")
    with started(tmp_path / "laneway.yaml", text) as instance:
        assert_the_cookie_holds_at_every_worker(instance, backends, "lw_arm")


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


def test_laneway_ctl_workers_lists_them(instance: Instance) -> None:
    instance.get("/one")
    result = laneway("ctl", "--admin", str(instance.admin.base_url), "workers")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SLOT", "PID", "ALIVE", "RESTARTS", "REQUESTS", "IN_FLIGHT", "MEMORY_MIB"]
    pids = [str(worker["pid"]) for worker in instance.workers()]
    assert [row.split()[:4] for row in rows] == [["0", pids[0], "yes", "0"], ["1", pids[1], "yes", "0"]]
    assert sum(int(row.split()[4]) for row in rows) == 1


def assert_the_cookie_holds_at_every_worker(instance: Instance, backends: list[Backend], name: str) -> None:
    """The cookie ``name`` the first answer set sends every later request, from either
    worker, to the backend that first answered. Each worker serves at least 10: one whose
    signature check failed would send each request anywhere, and all 10 landing right has
    odds of 1 in 1024."""
    cookie = instance.get("/first").cookies[name]
    pinned = backends[0] if real_requests(backends[0]) else backends[1]
    before = real_requests(pinned)
    sent = both_workers_serve(
        instance, [worker["requests_total"] for worker in instance.workers()], each=10,
        send=lambda n: httpx.get(f"{instance.proxy}n{n}", trust_env=False, timeout=10,
                                 headers={"Connection": "close", "Cookie": f"{name}={cookie}"}))
    assert real_requests(pinned) - before == sent, "every request went where the cookie says"


def test_a_persistence_cookie_from_one_worker_holds_at_every_worker(tmp_path: Path,
                                                                    backends: list[Backend]) -> None:
    # round robin would alternate; the cookie (signed with the instance's secret) must win.
    text = config_text(backends, health_checks=False).replace(
        "routes: [{pool: app}]", "routes: [{pool: app, persistence: {cookie: true}}]")
    with started(tmp_path / "laneway.yaml", text) as instance:
        assert_the_cookie_holds_at_every_worker(instance, backends, "laneway_server")
        route = instance.admin.get("/api/routes").json()[0]
        assert route["persistence"] == {"kind": "cookie", "cookie": "laneway_server", "entries": None}
