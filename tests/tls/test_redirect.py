"""A plain listener with ``redirect_to_https`` answers every request with a redirect to HTTPS
and never contacts a server, keeping the connection open as for laneway's other answers;
malformed requests still get the strict 400 and the close."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection, parse_response, raw_request


def redirecting(balancer: Callable[..., Balancer], **redirect: Any) -> Balancer:
    return balancer(routes=[], listener={"redirect_to_https": redirect or True})


def assert_no_server_contacted(running: Balancer) -> None:
    assert running.backend.connections == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_every_request_gets_a_301_to_the_same_host_and_path(
        balancer: Callable[..., Balancer], method: str) -> None:
    running = redirecting(balancer)
    response = httpx.request(method, f"{running.url}/a/b?x=1&y=%2F", headers={"Host": "www.example.com:80"},
                             content=b"data" if method == "POST" else None, trust_env=False, timeout=5.0)
    assert response.status_code == 301
    assert response.headers["location"] == "https://www.example.com/a/b?x=1&y=%2F"
    assert "connection" not in response.headers  # HTTP/1.1: kept open
    assert_no_server_contacted(running)


def test_the_connection_stays_open_and_a_request_body_is_read_past(balancer: Callable[..., Balancer]) -> None:
    running = redirecting(balancer)
    with RawConnection(running.address) as connection:
        connection.send(b"POST /form HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 5\r\n\r\nhello"
                        b"GET /next HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")
        first, second = connection.read_response(), connection.read_response()
        connection.send(b"GET /last HTTP/1.0\r\nHost: shop.example.com\r\n\r\n")
        last = connection.read_response()
        closed = connection.wait_closed()
    assert [(r.status, r.header("location")) for r in (first, second, last)] == [
        (301, "https://shop.example.com/form"), (301, "https://shop.example.com/next"),
        (301, "https://shop.example.com/last")]
    assert closed == b""  # HTTP/1.0 without keep-alive: closed after its answer
    assert_no_server_contacted(running)


def test_the_https_port_and_the_status_are_configurable(balancer: Callable[..., Balancer]) -> None:
    running = redirecting(balancer, port=8443, status=308)
    response = httpx.get(f"{running.url}/x", headers={"Host": "[2001:db8::1]:8080"}, trust_env=False)
    assert response.status_code == 308
    assert response.headers["location"] == "https://[2001:db8::1]:8443/x"
    assert_no_server_contacted(running)


def test_curl_follows_nothing_but_sees_the_location(balancer: Callable[..., Balancer]) -> None:
    running = redirecting(balancer)
    result = subprocess.run(["curl", "--silent", "--output", "/dev/null", "--write-out",
                             "%{http_code} %{redirect_url}", "-H", "Host: shop.example.com",
                             f"{running.url}/cart"], capture_output=True, timeout=20)
    assert result.stdout.decode() == "301 https://shop.example.com/cart"


def test_an_absolute_form_target_uses_its_own_authority(balancer: Callable[..., Balancer]) -> None:
    running = redirecting(balancer)
    reply = raw_request(running.address, b"GET http://api.example.com/v1?q=2 HTTP/1.1\r\nHost: other\r\n\r\n")
    response, _ = parse_response(reply.data, closed=True)
    assert (response.status, response.header("location")) == (301, "https://api.example.com/v1?q=2")


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
    (b"GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", 400),  # not a host
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
])
def test_malformed_requests_get_the_strict_answer_not_a_redirect(
        balancer: Callable[..., Balancer], request_bytes: bytes, status: int) -> None:
    running = redirecting(balancer)
    reply = raw_request(running.address, request_bytes)
    response, _ = parse_response(reply.data, closed=True)
    assert response.status == status, reply.data
    assert response.header("location") is None
    assert reply.closed
    assert_no_server_contacted(running)
