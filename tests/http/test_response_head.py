"""The response head reader: what it keeps and reads, and that its C twin (_fields.c, built
by ``pip install .``) agrees with the Python version on every head."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.http import response_head
from laneway.http.response_head import read_response_head, read_response_head_python

try:
    from laneway.http._fields import read_response_head as read_in_c
except ImportError:  # a pure Python install: the C twin is tested where it is built
    read_in_c = None

needs_c = pytest.mark.skipif(read_in_c is None, reason="the C twin is built by `pip install .` only")

READERS = [pytest.param(read_response_head_python, id="python"),
           pytest.param(read_in_c, id="c", marks=needs_c)]

NGINX_HEAD = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n"
              b"X-Backend: 19201\r\n\r\n")


@pytest.mark.parametrize("read", READERS)
def test_framing_and_hop_by_hop_fields_are_taken_out_and_read(read) -> None:
    assert read(NGINX_HEAD) == (
        b"\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 04:00:00 GMT\r\nContent-Type: text/plain"
        b"\r\nX-Backend: 19201", b"3", False, None)


@pytest.mark.parametrize("read", READERS)
def test_chunked_upgrade_and_every_hop_by_hop_field(read) -> None:
    head = (b"HTTP/1.1 101 Switching Protocols\r\nTE: trailers\r\nTrailer: X\r\nKeep-Alive: timeout=5"
            b"\r\nProxy-Connection: close\r\nProxy-Authenticate: Basic\r\nProxy-Authorization: Basic x"
            b"\r\nTransfer-Encoding:  Chunked \r\nUpgrade: WebSocket\r\nX-Te: kept\r\n\r\n")
    assert read(head) == (b"\r\nX-Te: kept", None, True, b"WebSocket")


@pytest.mark.parametrize("coding", [b"gzip", b"gzip, chunked", b"chunked, gzip", b"chunked\t", b"\tchunked",
                                    b"chunked,", b"chunked, chunked"])
def test_a_transfer_coding_other_than_chunked_alone_is_refused(coding: bytes) -> None:
    """laneway decodes only chunked: a body passed on in another coding, of which the client
    is not told, would be corrupt. A tab is refused too: llhttp would not strip it."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n" % coding
    with pytest.raises(ValueError, match="Transfer-Encoding"):
        read_response_head_python(head)
    if read_in_c is not None:
        assert read_in_c(head) is None  # left to the Python version


def test_a_second_transfer_encoding_is_refused() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    with pytest.raises(ValueError, match="Transfer-Encoding"):
        read_response_head(head)


@pytest.mark.parametrize("read", READERS)
def test_a_head_without_fields(read) -> None:
    assert read(b"HTTP/1.1 204 No Content\r\n\r\n") == (b"", None, False, None)


@needs_c
def test_the_c_twin_never_writes_to_bytes_cpython_shares() -> None:
    """CPython keeps one bytes object per single byte value and hands it out for every b"Q"
    made: a one-byte value lowered in place would turn every b"Q" in the process into b"q"."""
    assert read_in_c(b"HTTP/1.1 200 OK\r\nContent-Length: Q\r\n\r\n") == (b"", b"q", False, None)  # type: ignore[misc]
    assert bytes([ord("Q")])[0] == ord("Q")


def test_fields_a_connection_header_names_are_dropped_by_either() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n"
    assert read_response_head(head) == (b"\r\nX-Kept: 2", None, False, None)
    if read_in_c is not None:
        assert read_in_c(head) is None  # left to the Python version


def test_a_pure_python_install_reads_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = read_response_head(NGINX_HEAD)
    monkeypatch.setattr(response_head, "READ_IN_C", None)
    assert response_head.read_response_head(NGINX_HEAD) == expected


NAMES = ["Connection", "connection", "CONTENT-LENGTH", "Content-Length", "Keep-Alive", "TE", "te", "Trailer",
         "Transfer-Encoding", "transfer-encoding", "Upgrade", "Proxy-Connection", "Proxy-Authenticate",
         "Proxy-Authorization", "Content-Type", "X-Te", "Tee", "Set-Cookie", "Upgrade-Insecure", "ETag"]
VALUES = st.one_of(
    st.sampled_from(["close", "keep-alive", "Upgrade", " keep-alive , close ", "x-secret", "chunked",
                     "gzip, chunked", "chunked, gzip", "12", " 3 ", "WebSocket", "", " \t", "a,b",
                     "Keep-Alive,,", "\tclose\t"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12))
NAME = st.one_of(st.sampled_from(NAMES), st.from_regex(r"[A-Za-z][A-Za-z-]{0,18}", fullmatch=True))
FIELDS = st.lists(st.tuples(NAME, VALUES), max_size=8)


@needs_c
@settings(max_examples=2000, deadline=None)
@given(FIELDS, st.sampled_from(["", " ", "\t"]))
def test_the_c_twin_agrees_with_the_python_version(fields: list[tuple[str, str]], blank: str) -> None:
    head = b"HTTP/1.1 200 OK%s\r\n\r\n" % b"".join(
        b"\r\n%s:%s%s" % (name.encode(), blank.encode(), value.encode()) for name, value in fields)
    read = read_in_c(head)  # type: ignore[misc]
    if read is None:  # a Connection header that names other fields, or a coding Python refuses
        try:
            read_response_head_python(head)
        except ValueError:
            return
        assert any(name.lower() == "connection" for name, _ in fields)
    else:
        assert read == read_response_head_python(head)
