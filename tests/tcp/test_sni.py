"""TLS passthrough: connections routed by the server name in their ClientHello, bytes untouched."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from laneway.tcp.client_hello import MAX_HELLO, MAX_RECORDS, NOT_TLS, Hello, NeedMore, read_server_name
from tests.support.balancer import wait_for
from tests.tcp.support import TcpBackend, TcpBalancer, closed_by_peer, read_line, read_to_end, tcp_config

Backends = Callable[..., TcpBackend]
Balancers = Callable[[dict[str, Any]], TcpBalancer]

ROUTES = [{"match": {"sni": "api.example.com"}, "pool": "api"},
          {"match": {"sni": "*.example.com"}, "pool": "x"},
          {"pool": "other"}]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.example.com", "*.example.com", "*.b.example.com", "other.test").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield path


def client_hello(server_name: str | None) -> bytes:
    """The ClientHello python's ssl sends for ``server_name`` (taken from a memory BIO)."""
    context = ssl.create_default_context()
    if server_name is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def records(hello: bytes, size: int) -> bytes:
    """The same handshake message re-cut into records of at most ``size`` bytes (RFC 8446 5.1)."""
    message = hello[5:]
    return b"".join(hello[:3] + len(chunk).to_bytes(2) + chunk
                    for chunk in (message[i:i + size] for i in range(0, len(message), size)))


@pytest.fixture
def sni_balancer(tcp_backend: Backends, tcp_balancer: Balancers,
                 server_context: ssl.SSLContext) -> Callable[..., tuple[TcpBalancer, dict[str, TcpBackend]]]:
    def start(behaviour: str = "close", *, tls: bool = True, routes: list[dict[str, Any]] = ROUTES,
              **listener: Any) -> tuple[TcpBalancer, dict[str, TcpBackend]]:
        made = {name: tcp_backend(name, behaviour, tls=server_context if tls else None)
                for name in ("api", "x", "other")}
        document = tcp_config({name: [backend.address] for name, backend in made.items()},
                              listener={"routes": routes, **listener})
        return tcp_balancer(document), made

    return start


# ---------------------------------------------------------------- real TLS clients


@pytest.mark.parametrize(("name", "pool"), [("api.example.com", "api"), ("www.example.com", "x"),
                                            ("a.b.example.com", "x"), ("other.test", "other")])
def test_python_clients_reach_the_pool_of_their_server_name(
        name: str, pool: str, sni_balancer: Any, client_context: ssl.SSLContext) -> None:
    running, _ = sni_balancer()
    with running.connect() as raw, client_context.wrap_socket(raw, server_hostname=name) as tls:
        assert read_line(tls) == f"{pool}\n".encode()  # the certificate verified end to end


@pytest.mark.parametrize(("name", "pool"), [("api.example.com", "api"), ("www.example.com", "x")])
def test_openssl_s_client_reaches_the_pool_of_its_server_name(name: str, pool: str, sni_balancer: Any,
                                                              ca_file: Path) -> None:
    running, _ = sni_balancer()
    host, port = running.address
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", name, "-CAfile", str(ca_file),
         "-verify_return_error", "-quiet", "-ign_eof"],
        input=b"", capture_output=True, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{pool}\n".encode()


def test_a_client_hello_without_server_name_goes_to_the_fallback(
        sni_balancer: Any, client_context: ssl.SSLContext) -> None:
    running, _ = sni_balancer()
    client_context.check_hostname = False
    with running.connect() as raw, client_context.wrap_socket(raw) as tls:
        assert read_line(tls) == b"other\n"


# ---------------------------------------------------------------- exact bytes, raw sockets


@pytest.mark.parametrize("cut", ["whole", "byte by byte", "small records"])
def test_the_client_hello_reaches_the_server_exactly_as_sent(cut: str, sni_balancer: Any) -> None:
    running, made = sni_balancer("hold", tls=False)
    hello = client_hello("api.example.com")
    sent = records(hello, 100) if cut == "small records" else hello
    with running.connect() as sock:
        if cut == "byte by byte":
            for index in range(len(sent)):
                sock.sendall(sent[index:index + 1])
        else:
            sock.sendall(sent)
        sock.sendall(b"after")
        wait_for(lambda: made["api"].peers and made["api"].peers[0].received.endswith(b"after"),
                 message="the hello at the api server")
    assert bytes(made["api"].peers[0].received) == sent + b"after"
    assert not made["x"].peers and not made["other"].peers


def test_garbage_goes_to_the_fallback_untouched(sni_balancer: Any) -> None:
    running, made = sni_balancer("hold", tls=False)
    garbage = b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
    with running.connect() as sock:
        sock.sendall(garbage)
        wait_for(lambda: made["other"].peers and made["other"].peers[0].received == garbage,
                 message="the bytes at the fallback server")
    assert not made["api"].peers


def test_without_a_fallback_route_unmatched_connections_are_closed(
        sni_balancer: Any, caplog: pytest.LogCaptureFixture) -> None:
    running, made = sni_balancer("hold", tls=False, routes=ROUTES[:2])
    for sent in (b"\x16\x03\x01\x00\x05garbage", client_hello("nothing.test"), b"SSH-2.0-OpenSSH\r\n"):
        with running.connect() as sock:
            sock.sendall(sent)
            assert closed_by_peer(sock)
    assert "no route for server name 'nothing.test'" in caplog.text
    assert caplog.text.count("no route for a connection without a TLS server name") == 2
    assert not any(backend.peers for backend in made.values())


def test_a_truncated_client_hello_waits_for_the_handshake_timeout(
        sni_balancer: Any, caplog: pytest.LogCaptureFixture) -> None:
    running, made = sni_balancer("hold", tls=False, routes=ROUTES[:2], timeouts={"handshake": "0.2s"})
    hello = client_hello("api.example.com")
    for sent in (b"", hello[:3], hello[:len(hello) // 2]):
        with running.connect() as sock:
            sock.sendall(sent)
            assert closed_by_peer(sock, timeout=5.0)
    assert caplog.text.count("no whole TLS ClientHello within 0.2s") == 3
    assert not any(backend.peers for backend in made.values())


def test_with_a_fallback_a_silent_client_goes_there_after_the_timeout(sni_balancer: Any) -> None:
    running, made = sni_balancer("echo", tls=False, timeouts={"handshake": "0.2s"})
    with running.connect() as sock:
        # A protocol where the server speaks first still works behind an SNI listener.
        assert read_line(sock) == b"other\n"
        sock.shutdown(socket.SHUT_WR)
        assert read_to_end(sock) == b""
    assert len(made["other"].peers) == 1 and not made["api"].peers and not made["x"].peers


# ---------------------------------------------------------------- the parser


def test_the_parser_reads_python_and_refragmented_hellos() -> None:
    hello = client_hello("API.Example.com")
    assert read_server_name(hello) == Hello("api.example.com")
    assert read_server_name(records(hello, 64)) == Hello("api.example.com")
    assert read_server_name(client_hello(None)) == NOT_TLS


@given(st.data())
def test_every_prefix_asks_for_more(data: st.DataObject) -> None:
    hello = records(client_hello("www.example.com"), data.draw(st.integers(min_value=40, max_value=600)))
    cut = data.draw(st.integers(min_value=0, max_value=len(hello) - 1))
    partial = read_server_name(hello[:cut])
    assert isinstance(partial, NeedMore)
    assert cut < partial.at_least <= len(hello)  # asking again sooner could not tell
    assert read_server_name(hello) == Hello("www.example.com")


@pytest.mark.parametrize("data", [
    b"\x17\x03\x03\x00\x10" + b"\x00" * 16,  # application data, not a handshake
    b"\x16\x02\x00\x00\x04\x01\x00\x00\x00",  # SSL 2 version
    b"\x16\x03\x01\x00\x00",  # an empty record
    b"\x16\x03\x01\x40\x01",  # a record over 2^14 bytes
    b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello
    b"\x16\x03\x01\x00\x04\x01" + (MAX_HELLO - 3).to_bytes(3),  # a ClientHello over MAX_HELLO
    b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03",  # a ClientHello cut off inside
    b"\x16\x03",  # could be TLS: more is needed
])
def test_what_is_not_a_client_hello(data: bytes) -> None:
    expected = NeedMore(5) if data == b"\x16\x03" else NOT_TLS
    assert read_server_name(data) == expected


def test_a_hello_in_too_many_records_is_not_tls() -> None:
    hello = client_hello("www.example.com")
    size = len(hello[5:]) // (MAX_RECORDS + 1)  # so that it takes more than MAX_RECORDS records
    assert read_server_name(records(hello, size)) == NOT_TLS
    assert read_server_name(records(hello, -(-len(hello[5:]) // MAX_RECORDS))) == Hello("www.example.com")
