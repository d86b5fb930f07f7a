"""Client certificate verification (mTLS) on a TLS listener: ``client_ca`` with
``client_certificates: required`` (the default) or ``optional``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from laneway.http.client_certificate import header_safe
from tests.support.balancer import Balancer
from tests.tls.support import Pki


class ClientCa:
    """A CA for client certificates, apart from the one that signs the listener's."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.directory = directory
        self.file = directory / "client-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.file))

    def issue(self, name: str) -> tuple[str, str]:
        """A client certificate and key, as files (for curl and httpx)."""
        leaf = self.ca.issue_cert(name, common_name=name)
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return str(cert), str(key)


@pytest.fixture
def clients(tmp_path: Path) -> ClientCa:
    (tmp_path / "clients").mkdir()
    return ClientCa(tmp_path / "clients")


def mtls_balancer(balancer: Callable[..., Balancer], pki: Pki, clients: ClientCa, **tls: Any) -> Balancer:
    return balancer(listener={"tls": {"certificates": [pki.pair("localhost")],
                                      "client_ca": str(clients.file), **tls}})


def get(running: Balancer, pki: Pki, certificate: tuple[str, str] | None,
        headers: dict[str, str] | None = None) -> int:
    context = pki.client_context()
    if certificate is not None:
        context.load_cert_chain(*certificate)
    with httpx.Client(verify=context, trust_env=False, timeout=5.0) as client:
        return client.get(f"https://localhost:{running.address[1]}/who", headers=headers).status_code


def test_required_serves_a_client_with_a_certificate_from_the_ca(
        balancer: Callable[..., Balancer], pki: Pki, clients: ClientCa) -> None:
    running = mtls_balancer(balancer, pki, clients)
    assert get(running, pki, clients.issue("alice.clients.example")) == 200
    [request] = running.backend.requests
    assert request.header_values("x-ssl-client-verify") == ["SUCCESS"]
    [subject] = request.header_values("x-ssl-client-dn")
    assert subject.startswith("CN=alice.clients.example,")


def test_required_refuses_a_client_without_a_certificate_or_with_a_foreign_one(
        balancer: Callable[..., Balancer], pki: Pki, clients: ClientCa, tmp_path: Path) -> None:
    running = mtls_balancer(balancer, pki, clients)
    (tmp_path / "other").mkdir()
    stranger = ClientCa(tmp_path / "other").issue("mallory.example")
    for certificate in (None, stranger):
        # TLS 1.3 may finish the client's side of the handshake before the server says no,
        # so the refusal can surface on the first read as well as on connecting.
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            get(running, pki, certificate)
    assert running.backend.requests == []


def test_optional_serves_clients_without_a_certificate_but_refuses_a_foreign_one(
        balancer: Callable[..., Balancer], pki: Pki, clients: ClientCa, tmp_path: Path) -> None:
    running = mtls_balancer(balancer, pki, clients, client_certificates="optional")
    # A client's own X-SSL-Client-* headers never reach the server.
    assert get(running, pki, None, {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-DN": "CN=admin"}) == 200
    assert get(running, pki, clients.issue("bob.clients.example")) == 200
    anonymous, bob = running.backend.requests
    assert anonymous.header_values("x-ssl-client-verify") == ["NONE"]
    assert anonymous.header_values("x-ssl-client-dn") == []
    assert bob.header_values("x-ssl-client-verify") == ["SUCCESS"]
    assert bob.header_values("x-ssl-client-dn")[0].startswith("CN=bob.clients.example,")
    (tmp_path / "other").mkdir()
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        get(running, pki, ClientCa(tmp_path / "other").issue("mallory.example"))
    assert len(running.backend.requests) == 2


def test_curl_with_a_client_certificate(
        balancer: Callable[..., Balancer], pki: Pki, clients: ClientCa) -> None:
    running = mtls_balancer(balancer, pki, clients)
    cert, key = clients.issue("carol.clients.example")
    url = f"https://localhost:{running.address[1]}/curl"
    base = ["curl", "--silent", "--show-error", "--cacert", str(pki.ca_file), "--write-out", "%{http_code}",
            "--output", "/dev/null"]
    served = subprocess.run([*base, "--cert", cert, "--key", key, url], capture_output=True, timeout=20)
    assert (served.returncode, served.stdout) == (0, b"200"), served.stderr
    refused = subprocess.run([*base, url], capture_output=True, timeout=20)
    assert refused.returncode != 0
    assert [request.target for request in running.backend.requests] == ["/curl"]



def test_listeners_without_client_ca_drop_the_headers_and_add_none(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = balancer(listener={"tls": {"certificates": [pki.pair("localhost")]}})
    assert get(running, pki, None, {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-DN": "CN=admin"}) == 200
    [request] = running.backend.requests
    assert request.header_values("x-ssl-client-verify") == []
    assert request.header_values("x-ssl-client-dn") == []


def test_a_subject_is_made_safe_for_a_header() -> None:
    assert header_safe("CN=Zo\u00eb\r\nX: y") == b"CN=Zo\\c3\\ab\\0d\\0aX: y"
