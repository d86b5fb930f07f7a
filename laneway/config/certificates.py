"""Checks on the certificate and key files a config names, made when the config is loaded.

A listener that would fail its first handshake must not start: a missing or unreadable file,
a file that is not PEM, a key that does not belong to its certificate, or a certificate
outside its validity period are config errors, each naming the file and the fix. These checks
use only the files, ``ssl`` and ``cryptography``; the contexts themselves are built by the
runtime (``laneway.runtime.tls``).
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

# Mozilla's "intermediate" configuration (ssl-config.mozilla.org, version 5.7) for TLS 1.2;
# TLS 1.3 suites are OpenSSL's defaults, which are the same three Mozilla lists.
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    names: tuple[str, ...]  # DNS names it is valid for (lower case, wildcards as "*.x.y")
    not_before: datetime.datetime
    not_after: datetime.datetime


def resolve(path: str, base_dir: Path | None) -> Path:
    """A path as written in the config: relative paths are relative to the config file."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    return candidate


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{what} file {str(path)!r} does not exist; check the path "
                         "(relative paths are relative to the config file)") from None
    except IsADirectoryError:
        raise ValueError(f"{what} file {str(path)!r} is a directory; name the PEM file in it") from None
    except OSError as error:
        raise ValueError(f"cannot read {what} file {str(path)!r}: {error.strerror or error}; "
                         "check its permissions for the user laneway runs as") from None


def load_certificates(path: Path, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in a PEM file (a leaf then its chain, or a CA bundle)."""
    data = read_file(path, what)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError(f"{what} file {str(path)!r} holds no PEM certificate "
                         "('-----BEGIN CERTIFICATE-----'); convert DER with "
                         "'openssl x509 -inform der -in FILE -out FILE.pem'")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ValueError(f"{what} file {str(path)!r} is not valid PEM: {error}") from None


def check_certificate_pair(cert_path: Path, key_path: Path,
                           now: datetime.datetime | None = None) -> CertificateFacts:
    """Read a certificate and its key; raise ``ValueError`` saying what is wrong and the fix."""
    facts = check_certificate(cert_path, now)
    check_key_matches(cert_path, key_path)
    return facts


def check_certificate(path: Path, now: datetime.datetime | None = None) -> CertificateFacts:
    """The leaf certificate of a PEM file, which must be valid ``now``."""
    leaf = load_certificates(path)[0]
    facts = CertificateFacts(names=certificate_names(leaf), not_before=leaf.not_valid_before_utc,
                             not_after=leaf.not_valid_after_utc)
    now = now or datetime.datetime.now(datetime.UTC)
    if now >= facts.not_after:
        raise ValueError(f"certificate {str(path)!r} expired on {facts.not_after:%Y-%m-%d %H:%M} UTC; "
                         "renew it")
    if now < facts.not_before:
        raise ValueError(f"certificate {str(path)!r} is not valid before "
                         f"{facts.not_before:%Y-%m-%d %H:%M} UTC; check the clock or the certificate")
    return facts


def load_private_key(path: Path) -> PrivateKeyTypes:
    data = read_file(path, "key")
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise ValueError(f"key file {str(path)!r} holds no PEM private key "
                         "('-----BEGIN PRIVATE KEY-----'); name the key file, not the certificate")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(f"key file {str(path)!r} is encrypted; laneway needs an unencrypted "
                         "key: 'openssl pkey -in KEY -out KEY.plain'") from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ValueError(f"key file {str(path)!r} is not a valid PEM private key: {error}") from None


def check_key_matches(cert_path: Path, key_path: Path) -> None:
    leaf = load_certificates(cert_path)[0]
    key = load_private_key(key_path)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise ValueError(f"key {str(key_path)!r} does not match certificate {str(cert_path)!r}; "
                         "name the key the certificate was issued for")


def certificate_names(certificate: x509.Certificate) -> tuple[str, ...]:
    """The DNS names a certificate covers: its subjectAltName DNS entries, else its common name
    (RFC 6125 6.4.4: the CN counts only when there is no DNS name in subjectAltName)."""
    try:
        alt_names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = alt_names.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [str(attribute.value) for attribute in
                 certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(name.lower() for name in names)


def check_ciphers(ciphers: str) -> str:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
    except ssl.SSLError:
        raise ValueError(f"OpenSSL knows no cipher in {ciphers!r}; use an OpenSSL cipher list such "
                         "as 'ECDHE+AESGCM', or leave ciphers out for Mozilla's intermediate set") from None
    return ciphers


def check_ca_bundle(path: Path) -> None:
    """A CA bundle must hold at least one PEM certificate that ``ssl`` can load."""
    load_certificates(path, "CA bundle")
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as error:
        raise ValueError(f"CA bundle {str(path)!r} cannot be loaded: {error.reason or error}") from None
