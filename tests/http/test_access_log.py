"""Access logs: one line per request with who asked, what, which server answered, how it
went and how long it took; written in batches; reopened on request for rotation."""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from laneway.upstream import Server
from tests.support.balancer import Balancer, wait_for
from tests.support.faults import closed_port
from tests.support.raw import raw_request


def lines(path: Path, count: int) -> list[dict[str, Any]]:
    """The first ``count`` JSON lines of ``path``, once that many have been written."""
    wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= count,
             message=f"{count} access log lines")
    return [json.loads(line) for line in path.read_text().splitlines()[:count]]


def test_one_json_line_per_request(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, access_log={"path": str(log)})
    with running.client() as client:
        client.get("/bytes?n=1000", headers={"User-Agent": "tester"})
        client.post("/echo", content=b"hello")
    first, second = lines(log, 2)
    backend = running.backend
    assert first["method"] == "GET" and first["target"] == "/bytes?n=1000"
    assert first["status"] == 200 and first["pool"] == "p"
    assert first["server"] == f"{backend.address[0]}:{backend.address[1]}"
    assert first["client"] == "127.0.0.1" and first["retries"] == 0
    assert first["bytes"] > 1000, "the head and the 1000-byte body"
    assert 0 < first["upstream_duration"] <= first["duration"] < 5
    assert first["host"].startswith("127.0.0.1:")
    assert (second["method"], second["status"]) == ("POST", 200)
    assert first["request_id"] is None, "no request_id_header configured"


def test_failures_retries_and_refusals_are_logged(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    port = closed_port()
    running = balancer(1, access_log={"path": str(log)}, pool={"algorithm": "round_robin"})
    pool = running.runtime.pools["p"]

    def add_unreachable() -> None:
        pool.servers.insert(0, Server(f"127.0.0.1:{port}", "127.0.0.1", port))
        pool.refresh()

    running.call(add_unreachable)
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(2)]
    raw_request(running.address, b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400, no server asked
    assert statuses == [200, 200]
    records = lines(log, 3)
    assert records[0]["retries"] == 1, "round robin sent the first request to the unreachable one"
    assert [r["status"] for r in records[:2]] == [200, 200]
    assert all(r["server"] != f"127.0.0.1:{port}" for r in records[:2]), "the server that answered"
    assert records[2]["status"] == 400 and "Host" in records[2]["error"]


def test_a_client_that_leaves_is_logged_499(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, access_log={"path": str(log)})
    with socket.create_connection(running.address) as sock:
        sock.sendall(b"GET /delay?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: running.runtime.pools["p"].servers[0].in_flight == 1, message="request under way")
        # Reset, not a FIN: a client that only half-closes still gets its answer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    [record] = lines(log, 1)
    assert record["status"] == 499 and record["target"] == "/delay?s=2"


def test_request_ids_are_made_up_kept_passed_on(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, access_log={"path": str(log)}, listener={"request_id_header": "X-Request-Id"})
    with running.client() as client:
        client.get("/a")
        client.get("/b")
        client.get("/c", headers={"X-Request-Id": "from-the-client"})
    records = lines(log, 3)
    seen = [r.header("x-request-id") for r in running.backend.requests]
    assert [r["request_id"] for r in records] == seen
    made_up = seen[:2]
    assert made_up[0] != made_up[1] and all(len(i) == 32 for i in made_up)
    assert seen[2] == "from-the-client"
    assert [h for h, _ in running.backend.requests[2].headers].count("X-Request-Id") == 1


def test_combined_format(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, access_log={"path": str(log), "format": "combined"})
    running.get("/x?y=1", headers={"User-Agent": "tester/1.0", "Referer": "http://example.com/"})
    wait_for(lambda: log.exists() and log.read_text(), message="a line")
    [line] = log.read_text().splitlines()
    assert line.startswith("127.0.0.1 - - [")
    assert '"GET /x?y=1 HTTP/1.1" 200 ' in line
    assert '"http://example.com/" "tester/1.0"' in line
    assert " pool=p server=127.0.0.1:" in line


def test_reopen_lets_a_rotated_file_go(balancer: Callable[..., Balancer], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(1, access_log={"path": str(log)})
    running.get("/before")
    lines(log, 1)
    os.rename(log, tmp_path / "access.log.1")
    running.call(running.runtime.reopen_logs)
    running.get("/after")
    [record] = lines(log, 1)
    assert record["target"] == "/after"
    assert json.loads((tmp_path / "access.log.1").read_text())["target"] == "/before"


def test_no_log_unless_configured(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    assert running.runtime.access_log is None
    assert all(listener.access_log is None for listener in running.runtime.listeners)
