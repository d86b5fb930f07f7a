"""Running ``laneway run`` with ``workers: 2`` in tests: the config, the running instance
and its admin API, and waiting for what the workers do (docs/workers.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.cli.process import Running
from tests.support.backend import Backend
from tests.support.balancer import wait_for

DEADLINE = 20.0  # seconds any condition below may take to come true


def config_text(backends: list[Backend], *, health_checks: bool = True) -> str:
    """Listener ``web`` and pool ``app`` of ``backends``: round robin, no retries (so a request
    sent to a dead server fails), health checks every 200ms without jitter (unless
    ``health_checks`` is false: a test about something else should not fail when a loaded
    machine makes a check time out), an admin listener."""
    servers = ", ".join(f'{{address: "{host}:{port}"}}' for host, port in (b.address for b in backends))
    check = "{path: /health, interval: 200ms, timeout: 150ms, rise: 1, fall: 1, jitter: 0}"
    health = f"    health_check: {check}\n" if health_checks else ""
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
{health}admin: {{bind: "127.0.0.1:0"}}
shutdown_grace: 2s
"""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something true; that value (with the workers'
    longer deadline)."""
    return wait_for(condition, timeout, 0.05, what)


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
