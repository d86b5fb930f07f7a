"""Certificates made at test time with trustme (no key files are committed), and TLS clients.

``Pki`` writes a CA and leaf certificates into a test's temporary directory and gives the
``tls`` config blocks that name them.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from tests.support.raw import parse_head


@dataclass
class Pki:
    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)
    count: int = 0

    @property
    def ca_file(self) -> Path:
        path = self.directory / "ca.pem"
        if not path.exists():
            self.ca.cert_pem.write_to_path(str(path))
        return path

    def pair(self, *names: str, not_before: datetime.datetime | None = None,
             not_after: datetime.datetime | None = None) -> dict[str, str]:
        """A certificate for ``names`` and its key, as a ``certificates`` entry."""
        leaf = self.ca.issue_cert(*names, not_before=not_before, not_after=not_after)
        self.count += 1
        cert = self.directory / f"leaf{self.count}.pem"
        key = self.directory / f"leaf{self.count}.key"
        leaf.private_key_pem.write_to_path(str(key))
        with cert.open("wb") as out:
            for blob in leaf.cert_chain_pems:
                out.write(blob.bytes())
        return {"cert": str(cert), "key": str(key)}

    def client_context(self, **options: Any) -> ssl.SSLContext:
        """A client context trusting this CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        for name, value in options.items():
            setattr(context, name, value)
        return context


def tls_connect(address: tuple[str, int], context: ssl.SSLContext, server_name: str | None,
                timeout: float = 5.0) -> ssl.SSLSocket:
    sock = socket.create_connection(address, timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def peer_names(tls: ssl.SSLSocket) -> list[str]:
    """The DNS names in the certificate the server presented."""
    certificate = tls.getpeercert()
    assert certificate, "the server presented no certificate"
    return [value for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"]


def get_over(tls: ssl.SSLSocket, path: str) -> bytes:
    """One keep-alive GET over an open TLS socket; the response head and body (small)."""
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        assert chunk, "closed before a response"
        data += chunk
    response, start = parse_head(data)
    length = int(response.header("content-length") or 0)
    while len(data) - start < length:
        data += tls.recv(65536)
    return data
