"""What a server is told of a client's certificate, on listeners that verify them (mTLS).

Each request from such a listener carries two headers, named as HAProxy's and NGINX's
examples name them, so servers written for those work unchanged:

- ``X-SSL-Client-Verify: SUCCESS`` when the client presented a certificate that the
  listener's ``client_ca`` verified, ``NONE`` when it presented none (only possible with
  ``client_certificates: optional``; a certificate that fails verification ends the handshake).
- ``X-SSL-Client-DN``: the certificate's subject as an RFC 4514 string (``CN=alice,O=Example``).

Clients cannot set these themselves: laneway drops both from every request it receives
(``laneway.http.messages.SET_BY_PROXY``), on every listener.
"""

from __future__ import annotations

import asyncio
import ssl

from cryptography import x509


def client_certificate_headers(transport: asyncio.BaseTransport) -> bytes:
    """The header lines (each ending in CRLF) for a connection whose handshake is done."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    if not der:
        return b"X-SSL-Client-Verify: NONE\r\n"
    subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return b"X-SSL-Client-Verify: SUCCESS\r\nX-SSL-Client-DN: %s\r\n" % header_safe(subject)


def header_safe(text: str) -> bytes:
    """``text`` as visible ASCII: other bytes of its UTF-8 become RFC 4514 hex escapes
    (``\\c3\\a9``), so that no control character or line break can reach a header."""
    out = bytearray()
    for byte in text.encode("utf-8"):
        if 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += b"\\%02x" % byte
    return bytes(out)
