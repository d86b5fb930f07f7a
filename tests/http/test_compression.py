"""Route compression: gzip for clients that accept it, for listed types above a size, never
twice, streamed; the client gets back exactly the server's bytes once it decompresses."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Callable
from typing import Any

import pytest

from laneway.http.compression import choose_coding
from tests.support.balancer import Balancer
from tests.support.payload import blocks
from tests.support.raw import Response, parse_response


def compressing(balancer: Callable[..., Balancer], **settings: Any) -> Balancer:
    return balancer(1, routes=[{"pool": "p", "compression": settings or True}])


def get(running: Balancer, target: str, accept: str | None = "gzip", version: str = "1.1") -> Response:
    response, _ = parse_response(raw_get(running, target, accept, version), closed=True)
    return response


def raw_get(running: Balancer, target: str, accept: str | None = "gzip", version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: x", "Connection: close"]
    if accept is not None:
        lines.append(f"Accept-Encoding: {accept}")
    with socket.create_connection(running.address, timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def expected(size: int) -> bytes:
    return b"".join(blocks(size))


def test_a_large_text_response_is_gzipped_and_whole(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=300000")
    assert response.status == 200
    assert response.header("content-encoding") == "gzip"
    assert response.header("vary") == "Accept-Encoding"
    assert response.header("content-length") is None and response.header("transfer-encoding") == "chunked"
    assert gzip.decompress(response.body) == expected(300000)


def test_a_chunked_response_is_gzipped_too(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=50000&chunked=1")
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(response.body) == expected(50000)


def test_an_http10_client_gets_it_until_close(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=50000", version="1.0")
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(response.body) == expected(50000)


@pytest.mark.parametrize(("target", "accept", "why"), [
    ("/bytes?n=300000", None, "the client did not ask"),
    ("/bytes?n=300000", "gzip;q=0", "the client refused gzip"),
    ("/bytes?n=300000", "br", "the client accepts only another coding"),
    ("/bytes?n=100", "gzip", "smaller than min_length"),
    ("/response-headers?h=Content-Type:image/png&h=X:y", "gzip", "a type not listed"),
    ("/response-headers?h=Content-Type:text/plain&h=Content-Encoding:br", "gzip", "encoded already"),
])
def test_left_as_it_is(balancer: Callable[..., Balancer], target: str, accept: str | None, why: str) -> None:
    running = compressing(balancer, types=["application/octet-stream", "text/plain"], min_length=0
                          if "response-headers" in target else 1024)
    response = get(running, target, accept)
    assert response.header("content-encoding") in (None, "br"), why
    assert response.header("content-encoding") != "gzip", why


def test_routes_without_compression_are_untouched(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    response = get(running, "/bytes?n=300000")
    assert response.header("content-encoding") is None and response.body == expected(300000)


def test_a_strong_etag_becomes_weak(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, min_length=0)
    response = get(running, '/response-headers?h=Content-Type:text/plain&h=ETag:"v1"')
    assert response.header("content-encoding") == "gzip"
    assert response.header("etag") == 'W/"v1"'


@pytest.mark.parametrize(("header", "accepted"), [
    (b"gzip", True), (b"deflate, gzip;q=0.5", True), (b"GZIP", True), (b"*", True),
    (b"gzip;q=0", False), (b"br", True), (b"*;q=0", False), (b"", False), (b"br, *;q=0.1", True),
])
def test_accept_encoding(header: bytes, accepted: bool) -> None:
    assert (choose_coding(header) is not None) is accepted


def test_a_real_client_decodes_it(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    with running.client() as client:  # httpx asks for br and gzip, and decodes both
        response = client.get("/bytes?n=200000")
        assert response.headers["content-encoding"] == "br"
        assert response.content == expected(200000)
        assert client.get("/").text == "ok", "the connection stays usable"
