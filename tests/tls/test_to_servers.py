"""TLS from laneway to a pool's servers: real TLS backends with a trustme CA, verified by
default; a server laneway cannot verify gets no byte of the request and the client a 502."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.balancer import Balancer, wait_for
from tests.tls.support import Pki

CHECK = {"path": "/health", "interval": "0.1s", "timeout": "0.1s", "rise": 1, "fall": 1}


def backend_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return context


def tls_backends(balancer: Callable[..., Balancer], ca: trustme.CA, pool_tls: Any, *names: str,
                 **pool: Any) -> Balancer:
    context = backend_context(ca, *(names or ("127.0.0.1",)))
    return balancer(backend_settings={"ssl": context}, pool={"tls": pool_tls, **pool})


def other_ca_file(tmp_path: Path) -> str:
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def test_requests_reach_a_tls_server_verified_with_the_named_ca(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_backends(balancer, pki.ca, {"ca": str(pki.ca_file)})
    with running.client() as client:
        responses = [client.get(f"/n{index}") for index in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert [request.target for request in running.backend.requests] == ["/n0", "/n1", "/n2"]
    assert len(running.backend.connections) == 1  # kept alive over TLS and reused


def test_a_server_signed_by_another_ca_gets_nothing_and_the_client_a_502(
        balancer: Callable[..., Balancer], pki: Pki, tmp_path: Path) -> None:
    running = tls_backends(balancer, pki.ca, {"ca": other_ca_file(tmp_path)})
    response = running.get("/secret", headers={"Connection": "close"})
    assert response.status_code == 502
    assert "certificate verify failed" in response.text.lower()
    assert running.backend.requests == []
    assert running.backend.connections == []  # the handshake never completed on its side


def test_tls_true_verifies_against_the_system_store(balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_backends(balancer, pki.ca, True)
    assert running.get("/").status_code == 502  # the test CA is not in the system store
    assert running.backend.requests == []


def test_verify_false_must_be_said_and_then_accepts_any_certificate(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    running = tls_backends(balancer, pki.ca, {"verify": False})
    assert running.get("/any").status_code == 200
    assert [request.target for request in running.backend.requests] == ["/any"]


def test_server_name_is_sent_and_verified_instead_of_the_address(
        balancer: Callable[..., Balancer], pki: Pki) -> None:
    named = tls_backends(balancer, pki.ca, {"ca": str(pki.ca_file), "server_name": "api.internal"},
                         "api.internal")
    assert named.get("/").status_code == 200
    unnamed = tls_backends(balancer, pki.ca, {"ca": str(pki.ca_file)}, "api.internal")
    response = unnamed.get("/")
    assert response.status_code == 502  # 127.0.0.1 is not a name in the certificate
    assert unnamed.backend.requests == []


@pytest.mark.parametrize(("trusted", "expect_up"), [(True, True), (False, False)])
def test_health_checks_use_the_pools_tls(balancer: Callable[..., Balancer], pki: Pki, tmp_path: Path,
                                          trusted: bool, expect_up: bool) -> None:
    ca_file = str(pki.ca_file) if trusted else other_ca_file(tmp_path)
    running = tls_backends(balancer, pki.ca, {"ca": ca_file}, health_check=CHECK)
    checker = running.runtime.health_checkers["p"]
    server = running.runtime.pools["p"].servers[0]
    wait_for(lambda: running.call(lambda: len(checker.last_check) == 1 and server.up == expect_up),
             message=f"server up == {expect_up}")
    if expect_up:
        wait_for(lambda: any(request.target == "/health" for request in running.backend.requests))
    else:
        assert running.backend.requests == []
