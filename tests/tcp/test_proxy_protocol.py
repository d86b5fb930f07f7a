"""PROXY protocol: the exact header a server receives, and strict reading of one from in front."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.tcp.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    header_v1,
    header_v2,
    read_header,
)
from tests.support.balancer import wait_for
from tests.tcp.support import TcpBackend, TcpBalancer, closed_by_peer, read_exactly, read_line, tcp_config

Backends = Callable[..., TcpBackend]
Balancers = Callable[[dict[str, Any]], TcpBalancer]


def v2_ipv4(source: tuple[str, int], destination: tuple[str, int], command: int = 0x21,
            family: int = 0x11, extra: bytes = b"") -> bytes:
    body = (socket.inet_aton(source[0]) + socket.inet_aton(destination[0])
            + struct.pack("!HH", source[1], destination[1]) + extra)
    return V2_SIGNATURE + struct.pack("!BBH", command, family, len(body)) + body


# ---------------------------------------------------------------- sent to servers, end to end


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_server_receives_the_client_address_first(version: str, tcp_backend: Backends,
                                                     tcp_balancer: Balancers) -> None:
    backend = tcp_backend("b0", "hold", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, pool={"proxy_protocol": version}))
    with running.connect() as sock:
        client = sock.getsockname()
        sock.sendall(b"hello")
        wait_for(lambda: backend.peers and backend.peers[0].received.endswith(b"hello"),
                 message="the bytes at the server")
    if version == "v1":
        expected = (f"PROXY TCP4 127.0.0.1 127.0.0.1 {client[1]} {running.address[1]}\r\n").encode()
    else:
        expected = v2_ipv4((client[0], client[1]), running.address)
    assert bytes(backend.peers[0].received) == expected + b"hello"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_over_ipv6_the_header_carries_ipv6_addresses(version: str, tcp_backend: Backends,
                                                     tcp_balancer: Balancers) -> None:
    backend = tcp_backend("b0", "hold", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, pool={"proxy_protocol": version},
                                      listener={"bind": "[::1]:0"}))
    with socket.create_connection(("::1", running.address[1]), timeout=5.0) as sock:
        port = sock.getsockname()[1]
        sock.sendall(b"six")
        wait_for(lambda: backend.peers and backend.peers[0].received.endswith(b"six"),
                 message="the bytes at the server")
    listener_port = running.address[1]
    if version == "v1":
        expected = f"PROXY TCP6 ::1 ::1 {port} {listener_port}\r\n".encode()
    else:
        loopback = socket.inet_pton(socket.AF_INET6, "::1")
        expected = (V2_SIGNATURE + b"\x21\x21\x00\x24" + loopback + loopback
                    + struct.pack("!HH", port, listener_port))
    assert bytes(backend.peers[0].received) == expected + b"six"


def test_an_accepted_header_is_stripped_and_its_address_passed_on(tcp_backend: Backends,
                                                                  tcp_balancer: Balancers) -> None:
    backend = tcp_backend("b0", "hold", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, pool={"proxy_protocol": "v1"},
                                      listener={"accept_proxy_protocol": True}))
    with running.connect() as sock:
        # Split across reads, as a slow balancer in front might send it.
        for part in (b"\r\n\r\n\x00", v2_ipv4(("203.0.113.7", 40000), ("198.51.100.1", 443))[5:],
                     b"payload"):
            sock.sendall(part)
        wait_for(lambda: backend.peers and backend.peers[0].received.endswith(b"payload"),
                 message="the bytes at the server")
    assert bytes(backend.peers[0].received) == b"PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\npayload"


def test_an_accepted_address_is_the_one_hashed(tcp_backend: Backends, tcp_balancer: Balancers) -> None:
    made = [tcp_backend(f"b{i}", "hold") for i in range(4)]
    running = tcp_balancer(tcp_config({"p": [b.address for b in made]},
                                      pool={"algorithm": "ip_hash"},
                                      listener={"accept_proxy_protocol": True}))
    reached: dict[str, set[bytes]] = {}
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"):
        for _ in range(3):
            with running.connect() as sock:
                sock.sendall(f"PROXY TCP4 {client} 10.0.0.1 1234 443\r\n".encode())
                reached.setdefault(client, set()).add(read_line(sock))
    assert all(len(servers) == 1 for servers in reached.values()), reached
    assert len(set().union(*reached.values())) > 1, "five clients on one server: not hashed by address"


@pytest.mark.parametrize("sent", [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
    b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 ::1 ::1 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
    b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2" + b" " * 100 + b"\r\n",
    V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\x00" * 12,  # version 3
    V2_SIGNATURE + b"\x22\x11\x00\x0c" + b"\x00" * 12,  # command 2
    V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4,  # too short for IPv4 addresses
    V2_SIGNATURE + b"\x21\x12\x00\x0c" + b"\x00" * 12,  # UDP
    V2_SIGNATURE[:11] + b"X" + b"\x21\x11\x00\x0c" + b"\x00" * 12,
])
def test_a_bad_header_closes_the_connection(sent: bytes, tcp_backend: Backends, tcp_balancer: Balancers,
                                            caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", "hold", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, listener={"accept_proxy_protocol": True}))
    with running.connect() as sock:
        sock.sendall(sent)
        assert closed_by_peer(sock)
    assert backend.peers == []
    assert "closing the connection from 127.0.0.1" in caplog.text
    wait_for(lambda: running.call(lambda: not running.listener.connections), message="nothing left open")


def test_a_missing_header_times_out(tcp_backend: Backends, tcp_balancer: Balancers,
                                    caplog: pytest.LogCaptureFixture) -> None:
    backend = tcp_backend("b0", "hold", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, listener={
        "accept_proxy_protocol": True, "timeouts": {"handshake": "0.2s"}}))
    for sent in (b"", b"PROXY TCP4 1.2.3.4"):
        with running.connect() as sock:
            sock.sendall(sent)
            assert closed_by_peer(sock, timeout=5.0)
    assert caplog.text.count("no whole PROXY header within 0.2s") == 2
    assert backend.peers == []


def test_a_local_header_keeps_the_connection_addresses(tcp_backend: Backends,
                                                       tcp_balancer: Balancers) -> None:
    backend = tcp_backend("b0", greeting=None)
    running = tcp_balancer(tcp_config({"p": [backend.address]}, listener={"accept_proxy_protocol": True}))
    with running.connect() as sock:
        sock.sendall(V2_SIGNATURE + b"\x20\x00\x00\x00ping")  # LOCAL: the front balancer's own check
        assert read_exactly(sock, 4) == b"ping"


# ---------------------------------------------------------------- the parser and builders


def test_headers_built_read_back() -> None:
    for source, destination in ((("10.1.2.3", 1), ("10.0.0.1", 65535)), (("2001:db8::1", 80), ("::1", 443))):
        for build in (header_v1, header_v2):
            header = build(source, destination)
            assert read_header(header + b"rest") == ProxyHeader(source, destination, len(header))


def test_mixed_families_are_unknown() -> None:
    assert header_v1(("10.0.0.1", 1), ("::1", 2)) == b"PROXY UNKNOWN\r\n"
    assert header_v2(("10.0.0.1", 1), ("::1", 2)) == V2_SIGNATURE + b"\x21\x00\x00\x00"
    assert header_v1(("::ffff:10.0.0.1", 1), ("10.0.0.2", 2)) == b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"


def test_tlvs_after_the_addresses_are_skipped() -> None:
    header = v2_ipv4(("1.2.3.4", 5), ("6.7.8.9", 10), extra=b"\x04\x00\x01\x00")
    assert read_header(header + b"x") == ProxyHeader(("1.2.3.4", 5), ("6.7.8.9", 10), len(header))


@given(st.data())
def test_any_split_reads_the_same(data: st.DataObject) -> None:
    """Every prefix of a header asks for more; the whole header reads the same however it came."""
    whole = data.draw(st.sampled_from([header_v1(("1.2.3.4", 5), ("6.7.8.9", 10)),
                                       header_v2(("2001:db8::1", 5), ("::1", 10))]))
    cut = data.draw(st.integers(min_value=0, max_value=len(whole) - 1))
    assert read_header(whole[:cut]) is None
    assert read_header(whole) is not None


def test_a_v1_line_without_end_is_an_error_at_107_bytes() -> None:
    assert read_header(b"PROXY " + b"x" * 100) is None
    with pytest.raises(ProxyHeaderError, match="without CRLF in its first 107 bytes"):
        read_header(b"PROXY " + b"x" * 101)
