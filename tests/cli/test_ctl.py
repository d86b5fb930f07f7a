"""``laneway ctl`` against a real ``laneway run`` with an admin listener."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.process import Running, laneway
from tests.support.backend import Backend, start_backends, stop_all
from tests.support.faults import closed_port
from tests.support.loop_thread import LoopThread

TOKEN = "ctl-test-token-0123456789"


@pytest.fixture
def backends(loop_thread: LoopThread) -> Iterator[list[Backend]]:
    started = loop_thread.run(start_backends(2))
    yield started
    loop_thread.run(stop_all(started))


@pytest.fixture
def running(tmp_path: Path, backends: list[Backend]) -> Iterator[tuple[Running, str, str]]:
    """``laneway run`` with pool ``app`` of the two backends (answers under /cached/ kept in
    cache store ``pages``); yields it, its proxy URL and its admin URL (both on free ports,
    read from its log)."""
    servers = ", ".join(f'{{address: "{host}:{port}"}}' for host, port in (b.address for b in backends))
    path = tmp_path / "laneway.yaml"
    path.write_text(f"""\
listeners:
  - name: web
    bind: "127.0.0.1:0"
    routes:
      - {{match: {{path_prefix: /cached/}}, pool: app, cache: {{store: pages, valid: {{200: 1m}}}}}}
      - {{pool: app}}
caches: {{pages: {{max_size: 1MiB}}}}
pools:
  app: {{algorithm: round_robin, servers: [{servers}]}}
admin: {{bind: "127.0.0.1:0", token_env: LANEWAY_ADMIN_TOKEN}}
shutdown_grace: 2s
""", encoding="utf-8")
    with Running("run", "-c", str(path), env={"LANEWAY_ADMIN_TOKEN": TOKEN}) as process:
        admin = process.wait_for(r"admin listener on (http://\S+)", stream="stderr").group(1)
        proxy = process.wait_for(r"listener web: listening on (http://\S+)", stream="stderr").group(1)
        yield process, proxy.rstrip("/"), admin
        assert process.stop() == 0, process.output()


def ctl(admin: str, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    env = {"LANEWAY_ADMIN_TOKEN": token} if token is not None else {}
    if token is None and "LANEWAY_ADMIN_TOKEN" in os.environ:
        pytest.skip("the environment sets LANEWAY_ADMIN_TOKEN")
    result = laneway("ctl", "--admin", admin, *args, env=env)
    return result.returncode, result.stdout, result.stderr


def address(backend: Backend) -> str:
    host, port = backend.address
    return f"{host}:{port}"


def test_servers_lists_every_server(running: tuple[Running, str, str], backends: list[Backend]) -> None:
    _, _, admin = running
    code, out, err = ctl(admin, "servers", token=None)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["POOL", "SERVER", "STATE", "HEALTH", "EJECTED", "BREAKER", "WEIGHT",
                              "IN_FLIGHT", "REQUESTS", "FAILURES"]
    assert [row.split()[:4] for row in rows] == [["app", address(b), "ready", "up"] for b in backends]


def test_drain_ready_and_weight(running: tuple[Running, str, str], backends: list[Backend]) -> None:
    _, proxy, admin = running
    target = address(backends[1])
    code, out, err = ctl(admin, "drain", "app", target)
    assert code == 0, err
    assert out.strip() == f"pools.app server {target}: drain, weight 1, 0 requests under way"
    with httpx.Client(base_url=proxy, trust_env=False, timeout=10) as client:
        assert {client.get("/").headers["x-backend"] for _ in range(4)} == {"backend0"}
        code, out, err = ctl(admin, "ready", "app", target)
        assert code == 0, err
        assert {client.get("/").headers["x-backend"] for _ in range(4)} == {"backend0", "backend1"}
    code, out, err = ctl(admin, "weight", "app", target, "5")
    assert code == 0, err
    assert "weight 5" in out
    code, out, _ = ctl(admin, "servers", "--json")
    assert code == 0
    assert '"weight": 5' in out


def test_add_and_remove(running: tuple[Running, str, str]) -> None:
    _, _, admin = running
    extra = f"127.0.0.1:{closed_port()}"
    code, out, err = ctl(admin, "add", "app", extra, "--weight", "2")
    assert code == 0, err
    assert out.startswith(f"added pools.app server {extra}: ready, weight 2")
    assert extra in ctl(admin, "servers")[1]
    code, out, err = ctl(admin, "remove", "app", extra)
    assert code == 0, err
    assert extra not in ctl(admin, "servers")[1]


def test_refusals_exit_2_with_the_apis_message(running: tuple[Running, str, str],
                                               backends: list[Backend]) -> None:
    _, _, admin = running
    code, _, err = ctl(admin, "drain", "app", address(backends[0]), token=None)
    assert code == 2
    assert err.startswith("laneway ctl: 401: this needs the admin token")
    code, _, err = ctl(admin, "drain", "nowhere", address(backends[0]))
    assert (code, err.strip()) == (2, "laneway ctl: 404: no pool is named 'nowhere'; pools: app")
    code, _, err = ctl(admin, "weight", "app", address(backends[0]), "0")
    assert code == 2
    assert "weight: input should be greater than or equal to 1" in err


def test_an_unreachable_admin_exits_1() -> None:
    code, _, err = ctl(f"http://127.0.0.1:{closed_port()}", "servers")
    assert code == 1
    assert "cannot reach the admin API" in err


def test_reload_runs_the_file_or_prints_its_problems(running: tuple[Running, str, str],
                                                      tmp_path: Path) -> None:
    _, _, admin = running
    path = tmp_path / "laneway.yaml"  # the file the running fixture started laneway with
    good = path.read_text(encoding="utf-8")
    assert ctl(admin, "reload")[:2] == (0, f"reloaded {path}\n")
    path.write_text(good.replace("round_robin", "round_robbin"), encoding="utf-8")
    code, out, err = ctl(admin, "reload")
    assert code == 2 and out == ""
    assert "nothing was changed" in err and "pools.app.algorithm" in err, err


def test_purge_empties_a_cache_store(running: tuple[Running, str, str]) -> None:
    _, proxy, admin = running
    with httpx.Client(base_url=proxy, trust_env=False, timeout=10.0) as client:
        assert [client.get("/cached/page").headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
        code, out, _ = ctl(admin, "purge", "pages")
        assert (code, out) == (0, "caches.pages: emptied; 1 hits and 1 misses so far\n")
        assert client.get("/cached/page").headers["x-cache"] == "MISS"
    code, _, err = ctl(admin, "purge", "page")
    assert (code, err.strip()) == (2, "laneway ctl: 404: no cache store is named 'page'; stores: pages")
