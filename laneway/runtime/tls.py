"""Building ``ssl.SSLContext`` objects from the config's ``tls`` blocks.

These are plain functions of the config so that a config reload can build fresh contexts
and hand them to listeners and pools without restarting them (the reload itself is not
built yet). The files were already checked when the config was loaded
(``laneway.config.certificates``); an ``ssl.SSLError`` here means they changed since.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from laneway.config.certificates import INTERMEDIATE_CIPHERS, certificate_names, load_certificates
from laneway.config.schema import ListenerTls, PoolTls

log = logging.getLogger("laneway.tls")

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class CertificateSelector:
    """Picks the context whose certificate covers the SNI name a client asked for.

    Exact names first, then one-label wildcards (``*.example.com`` covers ``a.example.com``,
    not ``example.com`` nor ``a.b.example.com``, RFC 6125 6.4.3); the first certificate of the
    list answers everything else, as it answers clients that send no name.
    """

    def __init__(self, default: ssl.SSLContext) -> None:
        self.default = default
        self.exact: dict[str, ssl.SSLContext] = {}
        self.wildcard: dict[str, ssl.SSLContext] = {}  # by the parent domain, "example.com"

    def add(self, name: str, context: ssl.SSLContext) -> None:
        if name.startswith("*."):
            self.wildcard.setdefault(name[2:], context)
        else:
            self.exact.setdefault(name, context)

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        if not server_name:
            return self.default
        name = server_name.lower().rstrip(".")
        context = self.exact.get(name)
        if context is None:
            _, _, parent = name.partition(".")
            context = self.wildcard.get(parent, self.default)
        return context

    def __call__(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                 _context: ssl.SSLContext) -> None:
        context = self.context_for(server_name)
        if context is not self.default:
            connection.context = context


def listener_context(tls: ListenerTls) -> ssl.SSLContext:
    """The server-side context of a TLS listener, with one sub-context per extra certificate
    chosen by SNI."""
    contexts = [_server_context(tls, Path(files.cert), Path(files.key)) for files in tls.certificates]
    selector = CertificateSelector(contexts[0])
    for files, context in zip(tls.certificates, contexts, strict=True):
        for name in certificate_names(load_certificates(Path(files.cert))[0]):
            selector.add(name, context)
    if len(contexts) > 1:
        contexts[0].sni_callback = selector
    return contexts[0]


def _server_context(tls: ListenerTls, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.min_version]
    context.set_ciphers(tls.ciphers or INTERMEDIATE_CIPHERS)
    context.set_alpn_protocols(["http/1.1"])
    # No stateless session tickets: their key would live as long as the process and give no
    # forward secrecy over that time (Mozilla's guidance); sessions resume from the server's
    # session cache instead (TLS 1.3: stateful tickets).
    context.options |= ssl.OP_NO_TICKET
    context.load_cert_chain(cert, key)
    if tls.client_ca is not None:
        context.load_verify_locations(cafile=tls.client_ca)
        context.verify_mode = (ssl.CERT_REQUIRED if tls.client_certificates == "required"
                               else ssl.CERT_OPTIONAL)
    return context


def pool_context(tls: PoolTls) -> ssl.SSLContext:
    """The client-side context laneway uses towards a pool's servers (proxy and health checks)."""
    if not tls.verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=tls.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context
