"""TLS termination on an HTTP listener, with real clients: httpx, curl and openssl s_client."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography import x509

from laneway.config.schema import ListenerTls
from laneway.http.client import ClientConnection
from laneway.runtime.tls import listener_context
from tests.support.balancer import Balancer, wait_for
from tests.support.cycles import in_cycles
from tests.tls.support import Pki, get_over, peer_names, tls_connect


def tls_balancer(balancer: Callable[..., Balancer], pki: Pki, *certificates: dict[str, str],
                 timeouts: dict[str, str] | None = None, **tls: Any) -> Balancer:
    certificates = certificates or (pki.pair("localhost", "127.0.0.1"),)
    listener: dict[str, Any] = {"tls": {"certificates": list(certificates), **tls}}
    if timeouts:
        listener["timeouts"] = timeouts
    return balancer(listener=listener)


def https_url(running: Balancer, host: str = "127.0.0.1") -> str:
    return f"https://{host}:{running.address[1]}"


def test_httpx_gets_an_answer_over_tls_and_the_server_sees_https(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki)
    with httpx.Client(verify=pki.client_context(), trust_env=False, timeout=10.0) as client:
        first = client.get(f"{https_url(running)}/one")
        second = client.get(f"{https_url(running)}/two")  # the same TLS connection, kept alive
    assert (first.status_code, second.status_code) == (200, 200)
    assert [request.target for request in running.backend.requests] == ["/one", "/two"]
    assert all(request.header("x-forwarded-proto") == "https" for request in running.backend.requests)


def test_a_plain_http_request_on_a_tls_listener_gets_no_http_answer(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki, timeouts={"handshake": "1s"})
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{running.url}/", trust_env=False, timeout=5.0)
    assert running.backend.requests == []


def test_sni_picks_the_certificate_wildcards_included_and_the_first_is_the_default(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    default = pki.pair("www.example.com")
    wildcard = pki.pair("*.api.example.com")
    exact = pki.pair("admin.example.com")
    running = tls_balancer(balancer, pki, default, wildcard, exact)
    context = pki.client_context(check_hostname=False)
    expected = {"www.example.com": ["www.example.com"], "eu.api.example.com": ["*.api.example.com"],
                "ADMIN.example.com": ["admin.example.com"], "a.b.api.example.com": ["www.example.com"],
                "api.example.com": ["www.example.com"], "unknown.test": ["www.example.com"]}
    for name, names in expected.items():
        with tls_connect(running.address, context, name) as tls:
            assert peer_names(tls) == names, name
    with tls_connect(running.address, context, None) as tls:  # no SNI at all
        assert peer_names(tls) == ["www.example.com"]


def test_openssl_s_client_gets_the_certificate_for_its_servername(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki, pki.pair("www.example.com"), pki.pair("*.api.example.com"))
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{running.address[1]}",
         "-servername", "eu.api.example.com", "-CAfile", str(pki.ca_file), "-verify_return_error",
         "-alpn", "h2,http/1.1", "-showcerts", "-ign_eof"],
        input=b"GET /s HTTP/1.1\r\nHost: eu.api.example.com\r\nConnection: close\r\n\r\n",
        capture_output=True, timeout=20)
    output = result.stdout.decode()
    assert result.returncode == 0, output + result.stderr.decode()
    assert "Verify return code: 0 (ok)" in output
    assert "ALPN protocol: http/1.1" in output
    assert "HTTP/1.1 200" in output
    leaf = x509.load_pem_x509_certificates(result.stdout)[0]
    alt_names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt_names.get_values_for_type(x509.DNSName) == ["*.api.example.com"]
    assert [request.target for request in running.backend.requests] == ["/s"]


def test_curl_with_the_ca_verifies_the_name_it_resolves(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki, pki.pair("www.example.com"), pki.pair("shop.example.com"))
    port = running.address[1]
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--cacert", str(pki.ca_file),
         "--resolve", f"shop.example.com:{port}:127.0.0.1", f"https://shop.example.com:{port}/cart",
         "--write-out", "%{http_code} %{ssl_verify_result}"],
        capture_output=True, timeout=20)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().endswith("200 0")
    assert running.backend.requests[0].header("host") == f"shop.example.com:{port}"


def test_alpn_offers_http_1_1_only(balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki)
    context = pki.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with tls_connect(running.address, context, "localhost") as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_tls_1_1_is_refused_and_1_2_accepted_by_default(balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki)
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(running.address, context, "localhost") as tls:
        assert tls.version() == "TLSv1.2"
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{running.address[1]}", "-tls1_1", "-brief"],
        input=b"", capture_output=True, timeout=20)
    assert result.returncode != 0, result.stdout.decode()


def test_min_version_1_3_refuses_tls_1_2(balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki, min_version=1.3)
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        tls_connect(running.address, context, "localhost")
    with tls_connect(running.address, pki.client_context(), "localhost") as tls:
        assert tls.version() == "TLSv1.3"


def test_a_new_context_serves_new_connections_and_leaves_open_ones_alone(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_balancer(balancer, pki, pki.pair("localhost"))
    listener = running.runtime.listeners[0]
    renewed = listener_context(ListenerTls(certificates=[pki.pair("localhost", "renewed.example")]))
    with tls_connect(running.address, pki.client_context(), "localhost") as before:
        assert peer_names(before) == ["localhost"]
        assert get_over(before, "/before").startswith(b"HTTP/1.1 200 ")
        running.call(lambda: listener.replace_ssl_context(renewed))
        with tls_connect(running.address, pki.client_context(), "localhost") as after:
            assert peer_names(after) == ["localhost", "renewed.example"]
            assert get_over(after, "/after").startswith(b"HTTP/1.1 200 ")
        # The connection made before goes on serving on the same socket.
        assert get_over(before, "/still").startswith(b"HTTP/1.1 200 ")
    assert [request.target for request in running.backend.requests] == ["/before", "/after", "/still"]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_session_resumes_without_stateless_tickets(
        balancer: Callable[..., Balancer], pki: Pki, version: ssl.TLSVersion) -> None:
    running = tls_balancer(balancer, pki)
    context = pki.client_context(minimum_version=version, maximum_version=version)
    with tls_connect(running.address, context, "localhost") as first:
        assert get_over(first, "/one").startswith(b"HTTP/1.1 200 ")  # TLS 1.3 tickets come after
        session = first.session
    assert session is not None
    sock = socket.create_connection(running.address, timeout=5.0)
    with context.wrap_socket(sock, server_hostname="localhost", session=session) as second:
        assert second.session_reused
        assert get_over(second, "/two").startswith(b"HTTP/1.1 200 ")


def test_a_sticky_split_cookie_set_over_tls_is_secure(balancer: Callable[..., Balancer], pki: Pki) -> None:
    """Browsers then never send it over plain HTTP, where it could be read or replaced."""
    running = balancer(2, pools_of_backends={"p": [0], "canary": [1]}, listener={
        "tls": {"certificates": [pki.pair("localhost", "127.0.0.1")]},
        "routes": [{"split": [{"pool": "p", "weight": 1}, {"pool": "canary", "weight": 1}],
                    "sticky": {"cookie": "lw_arm"}}]})
    with httpx.Client(verify=pki.client_context(), trust_env=False, timeout=10.0) as client:
        cookie = client.get(f"{https_url(running)}/").headers["set-cookie"]
    assert cookie.startswith("lw_arm=")
    assert "; Secure" in cookie and "HttpOnly" in cookie


def test_closed_tls_connections_leave_no_reference_cycles(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    """As on plain listeners (tests/http/test_no_cycles.py): reference counting frees them."""
    running = tls_balancer(balancer, pki)
    in_cycles(ClientConnection)
    for _ in range(10):
        with httpx.Client(verify=pki.client_context(), trust_env=False, timeout=10.0) as client:
            assert client.get(f"{https_url(running)}/", headers={"Connection": "close"}).status_code == 200
    wait_for(lambda: not running.runtime.listeners[0].connections, message="every connection closed")
    assert in_cycles(ClientConnection) == []
