"""Malformed requests (RFC 9112) get the right 4xx, ``Connection: close``, and never reach a server.

Every case is fed three ways, as h11's ``tr()`` does: whole, one byte at a time, and followed
by a valid request on the same connection, which must not reach a server either (a request
after a rejected one is exactly what a smuggling attack hides).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.assertions import assert_nothing_reached_backends, assert_rejected
from tests.support.balancer import Balancer, wait_for
from tests.support.raw import RawConnection, raw_request

VERSION_ERRORS = (400, 505)
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"


def request(*lines: str, body: bytes = b"") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# (case id, request bytes, acceptable statuses). Each is refused by the head alone.
BAD_HEADS: list[tuple[str, bytes, tuple[int, ...]]] = [
    ("cl-and-te", request("POST / HTTP/1.1", "Host: a", "Content-Length: 5",
                          "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), (400,)),
    ("te-and-cl", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                          "Content-Length: 5", body=b"0\r\n\r\n"), (400,)),
    ("differing-content-lengths", request("POST / HTTP/1.1", "Host: a", "Content-Length: 5",
                                          "Content-Length: 6", body=b"hello!"), (400,)),
    ("content-length-list", request("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 6",
                                    body=b"hello!"), (400,)),
    ("content-length-not-a-number", request("POST / HTTP/1.1", "Host: a", "Content-Length: 5x",
                                            body=b"hello"), (400,)),
    ("content-length-negative", request("POST / HTTP/1.1", "Host: a", "Content-Length: -1"), (400,)),
    ("content-length-plus", request("POST / HTTP/1.1", "Host: a", "Content-Length: +5",
                                    body=b"hello"), (400,)),
    ("te-gzip", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip", body=b"x"), (400,)),
    ("te-chunked-then-gzip", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, gzip",
                                     body=b"0\r\n\r\n"), (400,)),
    ("te-chunked-twice", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, chunked",
                                 body=b"0\r\n\r\n"), (400,)),
    ("te-chunked-twice-two-lines", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                                           "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), (400,)),
    ("te-identity", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: identity",
                            body=b"x"), (400, 501)),
    # Chunked is final here, which RFC 9112 allows, but laneway forwards no other coding:
    # 6.1 says a server SHOULD answer 501 to a coding it does not understand.
    ("te-gzip-then-chunked", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked",
                                     body=b"0\r\n\r\n"), (400, 501)),
    ("te-in-http10", request("POST / HTTP/1.0", "Host: a", "Transfer-Encoding: chunked",
                             body=b"0\r\n\r\n"), (400,)),
    ("obs-fold", request("GET / HTTP/1.1", "Host: a", "X-Folded: one", " two"), (400,)),
    ("obs-fold-tab", request("GET / HTTP/1.1", "Host: a", "X-Folded: one", "\ttwo"), (400,)),
    ("space-before-first-header", request("GET / HTTP/1.1", " Host: a"), (400,)),
    ("cr-in-value", request("GET / HTTP/1.1", "Host: a", "X-Bad: one\rtwo"), (400,)),
    ("lf-in-value", request("GET / HTTP/1.1", "Host: a", "X-Bad: one\ntwo"), (400,)),
    ("nul-in-value", request("GET / HTTP/1.1", "Host: a", "X-Bad: one\x00two"), (400,)),
    ("cr-in-name", request("GET / HTTP/1.1", "Host: a", "X-B\rad: one"), (400,)),
    ("lf-in-name", request("GET / HTTP/1.1", "Host: a", "X-B\nad: one"), (400,)),
    ("nul-in-name", request("GET / HTTP/1.1", "Host: a", "X-B\x00ad: one"), (400,)),
    ("space-in-name", request("GET / HTTP/1.1", "Host: a", "X Bad: one"), (400,)),
    # RFC 9112 5.1: "A server MUST reject ... any received request message that contains
    # whitespace between a header field name and colon with a response status code of 400".
    ("space-before-colon", request("GET / HTTP/1.1", "Host: a", "X-Bad : one"), (400,)),
    ("no-colon", request("GET / HTTP/1.1", "Host: a", "X-Bad"), (400,)),
    ("empty-name", request("GET / HTTP/1.1", "Host: a", ": no name"), (400,)),
    ("separator-in-name", request("GET / HTTP/1.1", "Host: a", "X-Bad(: one"), (400,)),
    ("non-ascii-in-name", request("GET / HTTP/1.1", "Host: a", "X-B\xe4d: one"), (400,)),
    ("te-xchunked", request("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked",
                            body=b"0\r\n\r\n"), (400, 501)),
    ("bad-method", request("G@T / HTTP/1.1", "Host: a"), (400, 405, 501)),
    ("space-in-target", request("GET /a b HTTP/1.1", "Host: a"), (400,)),
    ("no-host-http11", request("GET / HTTP/1.1", "X-Other: a"), (400,)),
    ("two-hosts", request("GET / HTTP/1.1", "Host: a", "Host: b"), (400,)),
    ("two-equal-hosts", request("GET / HTTP/1.1", "Host: a", "Host: a"), (400,)),
    ("two-hosts-http10", request("GET / HTTP/1.0", "Host: a", "Host: b"), (400,)),
    ("http09-version", request("GET / HTTP/0.9", "Host: a"), VERSION_ERRORS),
    ("http2-version", request("GET / HTTP/2.0", "Host: a"), VERSION_ERRORS),
    # Kept alive by llhttp like HTTP/1.1: the version must still be asked for.
    ("http2-version-keep-alive", request("GET / HTTP/2.0", "Host: a", "Connection: keep-alive"),
     VERSION_ERRORS),
    ("http09-version-keep-alive", request("GET / HTTP/0.9", "Host: a", "Connection: keep-alive"),
     VERSION_ERRORS),
    ("http3-version", request("GET / HTTP/3.0", "Host: a"), VERSION_ERRORS),
    ("http12-version", request("GET / HTTP/1.2", "Host: a"), VERSION_ERRORS),
    ("lowercase-http", request("GET / http/1.1", "Host: a"), VERSION_ERRORS),
    ("version-without-minor", request("GET / HTTP/1", "Host: a"), VERSION_ERRORS),
    ("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", VERSION_ERRORS),
    # RFC 9112 3.2: a Host that is not host[:port] gets a 400; a server that parses it as an
    # authority would see another host than the one laneway routed on.
    ("host-with-userinfo", request("GET / HTTP/1.1", "Host: x@admin.example.com"), (400,)),
    ("host-with-path", request("GET / HTTP/1.1", "Host: admin.example.com/foo"), (400,)),
    ("host-with-space", request("GET / HTTP/1.1", "Host: a b"), (400,)),
    ("host-list", request("GET / HTTP/1.1", "Host: a, b"), (400,)),
    ("host-non-ascii", request("GET / HTTP/1.1", "Host: \xe4.example"), (400,)),
    ("host-empty", request("GET / HTTP/1.1", "Host: "), (400,)),
    ("absolute-form-with-userinfo", request("GET http://x@admin.example.com/ HTTP/1.1", "Host: a"), (400,)),
    ("absolute-form-not-http", request("GET ftp://a/x HTTP/1.1", "Host: a"), (400,)),
    ("absolute-form-bad-authority", request("GET http://a%20b/x HTTP/1.1", "Host: a"), (400,)),
    ("fragment", request("GET /x#frag HTTP/1.1", "Host: a"), (400,)),
    ("fragment-absolute-form", request("GET http://a/x#frag HTTP/1.1", "Host: a"), (400,)),
]


@pytest.mark.parametrize(("data", "statuses"), [(d, s) for _, d, s in BAD_HEADS],
                         ids=[name for name, _, _ in BAD_HEADS])
@pytest.mark.parametrize("feed", ["whole", "bytewise", "with-request-after"])
def test_bad_request_head_is_refused_and_never_forwarded(
        balancer: Callable[..., Balancer], data: bytes, statuses: tuple[int, ...], feed: str) -> None:
    running = balancer()
    if feed == "whole":
        reply = raw_request(running.address, data)
    elif feed == "bytewise":
        reply = raw_request(running.address, data, split=True)
    else:
        reply = raw_request(running.address, data + SMUGGLED)
    assert_rejected(reply, statuses)
    assert_nothing_reached_backends(running)


def test_http09_simple_request_is_refused(balancer: Callable[..., Balancer]) -> None:
    # HTTP/0.9 has no version and no headers: "GET /" and the line end.
    running = balancer()
    reply = raw_request(running.address, b"GET /\r\n\r\n")
    assert_rejected(reply, VERSION_ERRORS)
    assert_nothing_reached_backends(running)


def test_error_response_says_why(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    response = assert_rejected(raw_request(running.address, request("GET / HTTP/1.1", "X-Other: a")), 400)
    assert b"host" in response.body.lower(), response.body


# Bodies that are malformed after a valid head.
BAD_BODIES: list[tuple[str, bytes]] = [
    ("chunk-size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-overflow", b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-negative", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-empty", b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk-data-too-long", b"5\r\nhelloXX\r\n0\r\n\r\n"),
    ("chunk-size-space-inside", b"1 0\r\n0123456789abcdef\r\n0\r\n\r\n"),
]
CHUNKED_HEAD = request("POST /upload HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")


@pytest.mark.parametrize("body", [b for _, b in BAD_BODIES], ids=[n for n, _ in BAD_BODIES])
def test_invalid_chunked_body_is_refused_and_never_forwarded(
        balancer: Callable[..., Balancer], body: bytes) -> None:
    running = balancer()
    assert_rejected(raw_request(running.address, CHUNKED_HEAD + body + SMUGGLED), 400)
    assert_nothing_reached_backends(running)


def test_a_body_refused_on_a_reused_server_connection_is_dropped_quietly(
        balancer: Callable[..., Balancer], caplog: pytest.LogCaptureFixture) -> None:
    """The pooled connection the refused request was given is closed and forgotten: its close
    must not be taken for a stale connection's and the request sent again."""
    running = balancer()
    assert running.get("/warm").status_code == 200
    with caplog.at_level(logging.WARNING):
        assert_rejected(raw_request(running.address, CHUNKED_HEAD + BAD_BODIES[0][1] + SMUGGLED), 400)
        backend = running.backend
        wait_for(lambda: all(c.closed for c in backend.connections), message="the server connection closed")
        assert running.get("/after").status_code == 200
    assert [r.target for r in backend.requests] == ["/warm", "/after"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("body", [b for _, b in BAD_BODIES], ids=[n for n, _ in BAD_BODIES])
def test_invalid_chunk_after_forwarding_began_cuts_the_server_off(
        balancer: Callable[..., Balancer], body: bytes) -> None:
    """Once the head has gone to a server the request can't be unsent; but the server must
    never get a complete request, nor the bad bytes, and its connection is dropped."""
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(CHUNKED_HEAD + b"3\r\nabc\r\n")
        backend = running.backend
        wait_for(lambda: backend.requests and backend.requests[0].body_size == 3, message="first chunk")
        connection.send(body)
        response = connection.read_response()
        assert response.status == 400
        assert "close" in response.connection_tokens
        connection.wait_closed()
    wait_for(lambda: all(c.closed for c in backend.connections), message="server connection closed")
    assert [r.complete for r in backend.requests] == [False]
    assert backend.connections[0].parse_error is None
    assert b"smuggled" not in bytes(backend.connections[0].raw)


@pytest.mark.parametrize("feed", ["whole", "bytewise"])
def test_over_long_request_line_gets_414(balancer: Callable[..., Balancer], feed: str) -> None:
    running = balancer(listener={"limits": {"max_request_line": "1KiB"}})
    data = request("GET /" + "a" * 2048 + " HTTP/1.1", "Host: a")
    assert_rejected(raw_request(running.address, data, split=feed == "bytewise"), 414)
    assert_nothing_reached_backends(running)


def test_over_long_request_line_gets_414_with_default_limit(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    data = request("GET /" + "a" * (9 * 1024) + " HTTP/1.1", "Host: a")
    assert_rejected(raw_request(running.address, data), 414)
    assert_nothing_reached_backends(running)


def test_request_line_just_under_limit_is_served(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"limits": {"max_request_line": "1KiB"}})
    path = "/" + "a" * 900
    response = running.get(path)
    assert response.status_code == 200
    assert running.backend.requests[0].target == path


@pytest.mark.parametrize("shape", ["many-headers", "one-huge-header"])
@pytest.mark.parametrize("feed", ["whole", "bytewise"])
def test_over_large_header_section_gets_431(balancer: Callable[..., Balancer], shape: str, feed: str) -> None:
    running = balancer(listener={"limits": {"max_header_size": "1KiB"}})
    if shape == "many-headers":
        headers = [f"X-Filler-{index}: {'v' * 40}" for index in range(40)]
    else:
        headers = ["X-Huge: " + "v" * 2048]
    data = request("GET / HTTP/1.1", "Host: a", *headers)
    assert_rejected(raw_request(running.address, data, split=feed == "bytewise"), 431)
    assert_nothing_reached_backends(running)


def test_over_large_header_section_gets_431_with_default_limit(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    headers = [f"X-Filler-{index}: {'v' * 1000}" for index in range(70)]
    assert_rejected(raw_request(running.address, request("GET / HTTP/1.1", "Host: a", *headers)), 431)
    assert_nothing_reached_backends(running)


def test_header_section_under_limit_is_served(balancer: Callable[..., Balancer]) -> None:
    running = balancer(listener={"limits": {"max_header_size": "1KiB"}})
    response = running.get("/", headers={"X-Filler": "v" * 500})
    assert response.status_code == 200
    assert running.backend.requests[0].header("x-filler") == "v" * 500


def test_http10_without_host_is_served(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    reply = raw_request(running.address, request("GET /plain HTTP/1.0"))
    assert reply.response.status == 200
    forwarded = running.backend.requests[0]
    assert forwarded.path == "/plain"
    assert len(forwarded.header_values("host")) == 1


def test_a_content_length_with_leading_zeros_goes_on_as_a_plain_number(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    reply = raw_request(running.address, request("POST /echo HTTP/1.1", "Host: a", "Connection: close",
                                                  "Content-Length: " + "0" * 24 + "5", body=b"hello"))
    assert reply.data.startswith(b"HTTP/1.1 200 ")
    forwarded = running.backend.requests[0]
    assert (forwarded.header("content-length"), forwarded.body) == ("5", b"hello")


def test_valid_chunked_request_is_forwarded_whole(balancer: Callable[..., Balancer]) -> None:
    """The positive control for the chunked cases above: same head, valid body."""
    running = balancer()
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    with RawConnection(running.address) as connection:
        connection.send(request("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + body)
        response = connection.read_response()
    assert response.status == 200
    assert response.body == b"hello world"
    assert running.backend.requests[0].body == b"hello world"


def send_in_pieces(running: Balancer, data: bytes, cuts: list[int]) -> RawConnection:
    connection = RawConnection(running.address)
    bounds = [0, *sorted(cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        try:
            connection.send(data[start:end])
        except OSError:
            break  # refused before the rest was sent; the answer is still to be read
    return connection


VALID = request("POST /echo?x=1 HTTP/1.1", "Host: example.com", "X-One: 1", "Content-Type: text/plain",
                "Transfer-Encoding: chunked", body=b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")


def test_any_split_of_a_valid_request_reaches_the_server_the_same(balancer: Callable[..., Balancer]) -> None:
    running = balancer()

    @settings(max_examples=30, deadline=None)
    @given(cuts=st.lists(st.integers(min_value=1, max_value=len(VALID) - 1), max_size=10, unique=True))
    def check(cuts: list[int]) -> None:
        seen = len(running.backend.requests)
        with send_in_pieces(running, VALID, cuts) as connection:
            response = connection.read_response()
        assert (response.status, response.body) == (200, b"hello world")
        forwarded = running.backend.requests[seen]
        assert (forwarded.method, forwarded.target) == ("POST", "/echo?x=1")
        assert forwarded.body == b"hello world"
        assert forwarded.header("x-one") == "1"
        assert forwarded.header("host") == "example.com"

    check()


def test_any_split_of_a_smuggling_request_is_refused(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    bad = BAD_HEADS[0][1] + SMUGGLED

    @settings(max_examples=30, deadline=None)
    @given(cuts=st.lists(st.integers(min_value=1, max_value=len(bad) - 1), max_size=10, unique=True))
    def check(cuts: list[int]) -> None:
        with send_in_pieces(running, bad, cuts) as connection:
            response = connection.read_response()
            assert response.status == 400
            connection.wait_closed()
        assert running.backend.raw_size == 0

    check()
    assert_nothing_reached_backends(running)
