"""Route compression: brotli or gzip, whichever the client rates higher (brotli on a tie), for
listed types above a size, never twice, streamed; the client gets back exactly the server's
bytes once it decompresses."""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import Callable
from typing import Any

import brotli
import pytest

from laneway.http import compression
from laneway.http.compression import choose_coding
from tests.support.balancer import Balancer
from tests.support.payload import blocks
from tests.support.raw import RawConnection, Response, parse_response


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


DECODE: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.decompress, "br": brotli.decompress}


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_large_response_is_compressed_and_whole(balancer: Callable[..., Balancer], coding: str) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=300000", coding)
    assert response.status == 200
    assert response.header("content-encoding") == coding
    assert response.header("vary") == "Accept-Encoding"
    assert response.header("content-length") is None and response.header("transfer-encoding") == "chunked"
    assert DECODE[coding](response.body) == expected(300000)


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_chunked_response_is_compressed_too(balancer: Callable[..., Balancer], coding: str) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=50000&chunked=1", coding)
    assert response.header("content-encoding") == coding
    assert DECODE[coding](response.body) == expected(50000)


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_body_that_ends_at_close_is_compressed_to_its_end(balancer: Callable[..., Balancer],
                                                           coding: str) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/until-close?n=150000", coding)
    assert response.header("content-encoding") == coding
    assert DECODE[coding](response.body) == expected(150000), "the compressor's end written at the close"


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_an_http10_client_gets_it_until_close(balancer: Callable[..., Balancer], coding: str) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=50000", coding, version="1.0")
    assert response.header("content-encoding") == coding
    assert DECODE[coding](response.body) == expected(50000)


@pytest.mark.parametrize(("accept", "coding"), [
    ("gzip, deflate, br", "br"),              # a tie: brotli, smaller for the same work
    ("br;q=0.5, gzip", "gzip"),               # the client's preference wins
    ("br;q=1.0, gzip;q=0.9", "br"),
    ("br;q=0, gzip", "gzip"),                 # q=0 refuses
    ("*", "br"),
    ("gzip;q=0, *", "br"),
    ("br;q=0, *;q=0.5", "gzip"),              # * stands for the codings not named
    ("x-gzip", "gzip"),                       # the same as gzip (RFC 9110 8.4.1.3)
])
def test_the_coding_follows_the_clients_q_values(balancer: Callable[..., Balancer], accept: str,
                                                 coding: str) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    response = get(running, "/bytes?n=20000", accept)
    assert response.header("content-encoding") == coding
    assert DECODE[coding](response.body) == expected(20000)


def test_without_the_brotli_package_it_is_gzip(balancer: Callable[..., Balancer],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "brotli", None)  # as if it could not be imported
    running = compressing(balancer, types=["application/octet-stream"])
    assert get(running, "/bytes?n=20000", "br, gzip").header("content-encoding") == "gzip"
    assert get(running, "/bytes?n=20000", "br").header("content-encoding") is None


@pytest.mark.parametrize(("target", "accept", "why"), [
    ("/bytes?n=300000", None, "the client did not ask"),
    ("/bytes?n=300000", "gzip;q=0, br;q=0", "the client refused both"),
    ("/bytes?n=300000", "deflate, identity", "the client accepts only other codings"),
    ("/bytes?n=100", "gzip, br", "smaller than min_length"),
    ("/response-headers?h=Content-Type:image/png&h=X:y", "gzip, br", "a type not listed"),
])
def test_left_as_it_is(balancer: Callable[..., Balancer], target: str, accept: str | None, why: str) -> None:
    running = compressing(balancer, types=["application/octet-stream", "text/plain"], min_length=0
                          if "response-headers" in target else 1024)
    response = get(running, target, accept)
    assert response.header("content-encoding") is None, why
    size = int(target.partition("n=")[2]) if "bytes" in target else 2
    assert len(response.body) == size, why


@pytest.mark.parametrize(("encoded", "accept"), [("br", "gzip"), ("gzip", "br"), ("br", "br, gzip")])
def test_a_response_encoded_already_passes_as_it_is(balancer: Callable[..., Balancer], encoded: str,
                                                    accept: str) -> None:
    running = compressing(balancer, min_length=0)
    target = f"/response-headers?h=Content-Type:text/plain&h=Content-Encoding:{encoded}"
    response = get(running, target, accept)
    assert response.header_values("content-encoding") == [encoded], "never compressed twice"
    assert response.body == b"ok" and response.header("content-length") == "2"


def test_vary_is_sent_to_clients_that_get_it_uncompressed_too(balancer: Callable[..., Balancer]) -> None:
    """A cache in front must not give the plain answer to a client that would get it compressed."""
    running = compressing(balancer, types=["application/octet-stream"])
    plain = get(running, "/bytes?n=20000", None)
    assert plain.header("content-encoding") is None and plain.header("vary") == "Accept-Encoding"
    assert get(running, "/bytes?n=100", None).header("vary") is None, "never compressed: no Vary"


def test_routes_without_compression_are_untouched(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    response = get(running, "/bytes?n=300000")
    assert response.header("content-encoding") is None and response.body == expected(300000)


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_strong_etag_becomes_weak(balancer: Callable[..., Balancer], coding: str) -> None:
    running = compressing(balancer, min_length=0)
    response = get(running, '/response-headers?h=Content-Type:text/plain&h=ETag:"v1"', coding)
    assert response.header("content-encoding") == coding
    assert response.header("etag") == 'W/"v1"'
    assert DECODE[coding](response.body) == b"ok"


@pytest.mark.parametrize(("header", "coding"), [
    (b"gzip", b"gzip"), (b"deflate, gzip;q=0.5", b"gzip"), (b"GZIP", b"gzip"), (b"*", b"br"),
    (b"gzip;q=0", None), (b"br", b"br"), (b"*;q=0", None), (b"", None), (b"br;q=0.1, *;q=0.2", b"gzip"),
    (b"gzip;q=0.5, br;q=0.5", b"br"), (b"gzip;q=0.51, br;q=0.5", b"gzip"), (b"gzip;q=x", None),
    (b"identity", None), (b"gzip , br ; q=0", b"gzip"), (b"br;q=0.000", None),
])
def test_accept_encoding(header: bytes, coding: bytes | None) -> None:
    assert choose_coding(header) == coding


def test_a_real_client_decodes_it(balancer: Callable[..., Balancer]) -> None:
    running = compressing(balancer, types=["application/octet-stream"])
    with running.client() as client:  # httpx asks for br and gzip, and decodes both
        response = client.get("/bytes?n=200000")
        assert response.headers["content-encoding"] == "br"
        assert response.content == expected(200000)
        assert client.get("/").text == "ok", "the connection stays usable"


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_it_streams_while_the_server_is_still_sending(balancer: Callable[..., Balancer], coding: str) -> None:
    """The server sends half of its 2 MiB and stops: the client already has most of that half,
    compressed, so laneway is not holding the body back until it ends."""
    running = compressing(balancer, types=["application/octet-stream"])
    decoder = brotli.Decompressor() if coding == "br" else zlib.decompressobj(31)
    decode = decoder.process if coding == "br" else decoder.decompress
    sent = b"".join(blocks(1024 * 1024))
    with RawConnection(running.address, timeout=10) as connection:
        connection.send(f"GET /stall-body?n={len(sent)}&fill=blocks HTTP/1.1\r\nHost: x\r\n"
                        f"Accept-Encoding: {coding}\r\n\r\n".encode())
        head = connection.read_head()
        assert head.header("content-encoding") == coding
        decoded = b""
        while len(decoded) < len(sent) // 2:  # read_chunk fails after 10s without a chunk
            decoded += decode(connection.read_chunk())
    assert len(decoded) >= len(sent) // 2, f"only {len(decoded)} bytes arrived while the server stalled"
    assert sent.startswith(decoded)
