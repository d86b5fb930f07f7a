"""Probes against real servers on loopback: what passes, what fails, and the reason given."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from laneway.health import HttpProbe, ProbeResult, TcpProbe
from laneway.health.probes import BODY_LIMIT, Probe
from laneway.upstream import Server
from tests.support.backend import Backend, start_backends, stop_all
from tests.support.faults import BlackHole, closed_port
from tests.support.loop_thread import LoopThread


@pytest.fixture
def backend(loop_thread: LoopThread) -> Iterator[Backend]:
    [started] = loop_thread.run(start_backends(1))
    yield started
    loop_thread.run(stop_all([started]))


def server_at(host: str, port: int) -> Server:
    return Server(f"{host}:{port}", host, port)


def of(backend: Backend) -> Server:
    return server_at(*backend.address)


def check(loop_thread: LoopThread, probe: Probe, server: Server) -> ProbeResult:
    return loop_thread.run(probe.check(server))


def test_http_sends_a_plain_request_and_passes_on_200(loop_thread: LoopThread, backend: Backend) -> None:
    result = check(loop_thread, HttpProbe(), of(backend))
    assert result == ProbeResult(True, "status 200")
    [request] = backend.requests
    assert (request.method, request.target, request.version) == ("GET", "/health", "1.1")
    host, port = backend.address
    assert request.header("host") == f"{host}:{port}"
    assert request.header("connection") == "close"
    assert request.header("user-agent") == "laneway-health"


def test_http_method_path_and_host_are_as_configured(loop_thread: LoopThread, backend: Backend) -> None:
    probe = HttpProbe(method="HEAD", path="/bytes?n=100000", host="db.internal")
    started = time.monotonic()
    # The head promises 100000 bytes that never come (HEAD): the status is enough.
    assert check(loop_thread, probe, of(backend)) == ProbeResult(True, "status 200")
    assert time.monotonic() - started < 0.5
    [request] = backend.requests
    assert (request.method, request.target, request.header("host")) == ("HEAD", "/bytes?n=100000",
                                                                        "db.internal")


@pytest.mark.parametrize(("code", "expect", "ok"), [
    (200, ((200, 399),), True),
    (302, ((200, 399),), True),
    (503, ((200, 399),), False),
    (404, ((200, 399),), False),
    (204, ((200, 200),), False),
    (204, ((200, 200), (204, 204)), True),
    (500, ((500, 599),), True),
])
def test_http_status_in_or_out_of_expect_status(loop_thread: LoopThread, backend: Backend, code: int,
                                                expect: tuple[tuple[int, int], ...], ok: bool) -> None:
    result = check(loop_thread, HttpProbe(path=f"/status?code={code}", expect_status=expect), of(backend))
    assert result.ok is ok
    if not ok:
        wanted = ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in expect)
        assert result.reason == f"status {code}, expected {wanted}"


def test_http_body_substring_present_or_absent(loop_thread: LoopThread, backend: Backend) -> None:
    # The backend's /status answers "status 200".
    present = HttpProbe(path="/status?code=200", expect_body="200")
    assert check(loop_thread, present, of(backend)) == ProbeResult(True, "status 200, body has '200'")
    absent = HttpProbe(path="/status?code=200", expect_body="DB_OK")
    assert check(loop_thread, absent, of(backend)).reason == "status 200 but 'DB_OK' is not in the body"
    # A wrong status fails on the status, whatever the body.
    wrong = HttpProbe(path="/status?code=503", expect_body="status")
    assert check(loop_thread, wrong, of(backend)).reason == "status 503, expected 200-399"


def test_http_body_is_searched_only_in_its_first_64_kib(loop_thread: LoopThread, backend: Backend) -> None:
    probe = HttpProbe(path=f"/bytes?n={4 * BODY_LIMIT}", expect_body="DB_OK")
    result = check(loop_thread, probe, of(backend))
    assert not result.ok
    assert result.reason == f"status 200 but 'DB_OK' is not in the first {BODY_LIMIT} bytes of the body"


def test_http_body_sent_until_close_is_read(loop_thread: LoopThread, backend: Backend) -> None:
    # Neither Content-Length nor chunked: the body ends when the server closes.
    probe = HttpProbe(path="/until-close?n=10", expect_body="DB_OK")
    assert check(loop_thread, probe, of(backend)).reason == "status 200 but 'DB_OK' is not in the body"


def test_http_interim_responses_are_skipped(loop_thread: LoopThread, backend: Backend) -> None:
    probe = HttpProbe(path="/early-hints", expect_status=((200, 200),), expect_body="ok")
    assert check(loop_thread, probe, of(backend)) == ProbeResult(True, "status 200, body has 'ok'")


def test_http_times_out_on_a_server_that_never_answers(loop_thread: LoopThread, backend: Backend) -> None:
    probe = HttpProbe(path="/delay?s=5", timeout=0.2)
    started = time.monotonic()
    assert check(loop_thread, probe, of(backend)) == ProbeResult(False, "timed out after 0.2s")
    assert 0.2 <= time.monotonic() - started < 1.0


def test_http_times_out_on_a_connect_that_hangs(loop_thread: LoopThread) -> None:
    with BlackHole() as hole:
        host, port = hole.address.rsplit(":", 1)
        result = check(loop_thread, HttpProbe(timeout=0.2), server_at(host, int(port)))
    assert result == ProbeResult(False, "timed out after 0.2s")


def test_http_connection_refused(loop_thread: LoopThread) -> None:
    result = check(loop_thread, HttpProbe(), server_at("127.0.0.1", closed_port()))
    assert result == ProbeResult(False, "connection refused")


@pytest.mark.parametrize(("path", "reason"), [
    ("/close", "connection closed before a response"),
    ("/reset", "connection reset"),
    ("/malformed?kind=garbage", "malformed response"),
    ("/malformed?kind=bad-status", "malformed response"),
])
def test_http_broken_answers_fail(loop_thread: LoopThread, backend: Backend, path: str, reason: str) -> None:
    result = check(loop_thread, HttpProbe(path=path), of(backend))
    assert not result.ok
    assert result.reason.startswith(reason), result.reason


def test_http_refuses_a_body_check_on_head() -> None:
    with pytest.raises(ValueError, match="a response to HEAD has none"):
        HttpProbe(method="HEAD", expect_body="DB_OK")


def test_tcp_passes_when_the_connection_is_accepted(loop_thread: LoopThread, backend: Backend) -> None:
    assert check(loop_thread, TcpProbe(), of(backend)) == ProbeResult(True, "connected")
    assert backend.requests == []  # nothing was sent


def test_tcp_connection_refused(loop_thread: LoopThread) -> None:
    result = check(loop_thread, TcpProbe(), server_at("127.0.0.1", closed_port()))
    assert result == ProbeResult(False, "connection refused")


def test_tcp_connect_timeout(loop_thread: LoopThread) -> None:
    with BlackHole() as hole:
        host, port = hole.address.rsplit(":", 1)
        result = check(loop_thread, TcpProbe(timeout=0.2), server_at(host, int(port)))
    assert result == ProbeResult(False, "connect timed out after 0.2s")
