"""``tls`` blocks: certificate files are checked when the config is loaded, and every mistake
names the field, the file and the fix."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from laneway.config import ConfigError, load_config, parse_config

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(ca: trustme.CA, directory: Path, name: str = "site", **validity: Any) -> dict[str, str]:
    leaf = ca.issue_cert("www.example.com", **validity)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return {"cert": str(cert), "key": str(key)}


def document(listener_tls: dict[str, Any] | None = None, pool_tls: Any = None) -> dict[str, Any]:
    listener: dict[str, Any] = {"name": "web", "bind": "127.0.0.1:8443", "routes": [{"pool": "p"}]}
    if listener_tls is not None:
        listener["tls"] = listener_tls
    pool: dict[str, Any] = {"servers": [{"address": "127.0.0.1:9001"}]}
    if pool_tls is not None:
        pool["tls"] = pool_tls
    return {"listeners": [listener], "pools": {"p": pool}}


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, "site.yaml")
    return caught.value.problems


def test_a_good_tls_listener_loads_with_its_defaults(ca: trustme.CA, tmp_path: Path) -> None:
    config = parse_config(document({"certificates": [write_pair(ca, tmp_path)]}))
    tls = config.listeners[0].tls
    assert tls is not None
    assert (tls.min_version, tls.ciphers, tls.client_ca) == ("1.2", None, None)
    assert config.listeners[0].handshake_timeout == 10.0


def test_timeouts_handshake_applies_to_tls_listeners_and_tcp_ones_only(
        ca: trustme.CA, tmp_path: Path) -> None:
    doc = document({"certificates": [write_pair(ca, tmp_path)]})
    doc["listeners"][0]["timeouts"] = {"handshake": "3s"}
    assert parse_config(doc).listeners[0].handshake_timeout == 3.0
    del doc["listeners"][0]["tls"]
    lines = problems(doc)
    assert len(lines) == 1 and "timeouts.handshake applies only to protocol tcp" in lines[0]
    tcp = parse_config({"listeners": [{"name": "db", "bind": "127.0.0.1:0", "protocol": "tcp", "pool": "p"}],
                        "pools": {"p": {"servers": [{"address": "127.0.0.1:9001"}]}}})
    assert tcp.listeners[0].handshake_timeout == 5.0


def test_tls_and_redirect_to_https_are_for_http_listeners(ca: trustme.CA, tmp_path: Path) -> None:
    lines = problems({"listeners": [{"name": "db", "bind": "127.0.0.1:0", "protocol": "tcp", "pool": "p",
                                     "tls": {"certificates": [write_pair(ca, tmp_path)]},
                                     "redirect_to_https": True}],
                      "pools": {"p": {"servers": [{"address": "127.0.0.1:9001"}]}}})
    assert len(lines) == 1 and "tls, redirect_to_https applies only to protocol http" in lines[0]


def test_min_version_may_be_written_as_a_yaml_number(ca: trustme.CA, tmp_path: Path) -> None:
    config = parse_config(document({"certificates": [write_pair(ca, tmp_path)], "min_version": 1.3}))
    assert config.listeners[0].tls is not None and config.listeners[0].tls.min_version == "1.3"
    lines = problems(document({"certificates": [write_pair(ca, tmp_path)], "min_version": 1.1}))
    assert lines == ["site.yaml: listeners[0].tls.min_version: got 1.1; expected one of '1.2' or '1.3'"]


def test_a_missing_certificate_file_names_the_field_and_the_path(tmp_path: Path) -> None:
    missing, key = tmp_path / "nope.pem", tmp_path / "nope.key"
    lines = problems(document({"certificates": [{"cert": str(missing), "key": str(key)}]}))
    assert lines == [f"site.yaml: listeners[0].tls.certificates[0].cert: certificate file '{missing}' does "
                     "not exist; check the path (relative paths are relative to the config file)",
                     f"site.yaml: listeners[0].tls.certificates[0].key: key file '{key}' does not exist; "
                     "check the path (relative paths are relative to the config file)"]


def test_a_directory_instead_of_a_file_is_an_error(tmp_path: Path) -> None:
    lines = problems(document({"certificates": [{"cert": str(tmp_path), "key": str(tmp_path)}]}))
    assert len(lines) == 2 and all("is a directory; name the PEM file in it" in line for line in lines)


def test_a_file_that_is_not_pem_is_an_error(ca: trustme.CA, tmp_path: Path) -> None:
    pair = write_pair(ca, tmp_path)
    der = tmp_path / "site.der"
    der.write_bytes(b"\x30\x82\x01\x0a" + b"\x00" * 64)
    lines = problems(document({"certificates": [{"cert": str(der), "key": pair["key"]}]}))
    assert len(lines) == 1 and lines[0].startswith("site.yaml: listeners[0].tls.certificates[0].cert: ")
    assert "holds no PEM certificate" in lines[0]
    assert "openssl x509 -inform der" in lines[0]
    lines = problems(document({"certificates": [{"cert": pair["cert"], "key": pair["cert"]}]}))
    assert len(lines) == 1 and lines[0].startswith("site.yaml: listeners[0].tls.certificates[0].key: ")
    assert "holds no PEM private key" in lines[0]


def test_a_key_that_does_not_match_its_certificate_is_an_error(ca: trustme.CA, tmp_path: Path) -> None:
    first, second = write_pair(ca, tmp_path, "one"), write_pair(ca, tmp_path, "two")
    lines = problems(document({"certificates": [{"cert": first["cert"], "key": second["key"]}]}))
    assert lines == [f"site.yaml: listeners[0].tls.certificates[0]: key '{second['key']}' does not match "
                     f"certificate '{first['cert']}'; name the key the certificate was issued for"]


def test_an_expired_certificate_is_an_error(ca: trustme.CA, tmp_path: Path) -> None:
    pair = write_pair(ca, tmp_path, not_before=NOW - datetime.timedelta(days=30),
                      not_after=NOW - datetime.timedelta(days=1))
    lines = problems(document({"certificates": [pair]}))
    assert len(lines) == 1 and lines[0].startswith("site.yaml: listeners[0].tls.certificates[0].cert: ")
    assert "expired on" in lines[0] and lines[0].endswith("renew it")


def test_a_certificate_not_yet_valid_is_an_error(ca: trustme.CA, tmp_path: Path) -> None:
    pair = write_pair(ca, tmp_path, not_before=NOW + datetime.timedelta(days=1),
                      not_after=NOW + datetime.timedelta(days=30))
    lines = problems(document({"certificates": [pair]}))
    assert len(lines) == 1 and "is not valid before" in lines[0]


def test_certificates_must_not_be_empty_and_ciphers_must_be_known(ca: trustme.CA, tmp_path: Path) -> None:
    assert problems(document({"certificates": []})) == [
        "site.yaml: listeners[0].tls.certificates: must not be empty"]
    lines = problems(document({"certificates": [write_pair(ca, tmp_path)], "ciphers": "NOT-A-CIPHER"}))
    assert len(lines) == 1
    assert lines[0].startswith("site.yaml: listeners[0].tls.ciphers: OpenSSL knows no cipher")


def test_client_certificates_needs_client_ca(ca: trustme.CA, tmp_path: Path) -> None:
    pair = write_pair(ca, tmp_path)
    lines = problems(document({"certificates": [pair], "client_certificates": "optional"}))
    assert lines == ["site.yaml: listeners[0].tls: client_certificates needs client_ca, the CA bundle that "
                     "client certificates are verified against"]


def test_pool_tls_true_verifies_by_default_and_verify_false_must_be_explicit(
        ca: trustme.CA, tmp_path: Path) -> None:
    tls = parse_config(document(pool_tls=True)).pools["p"].tls
    assert tls is not None and tls.verify and tls.ca is None
    assert parse_config(document(pool_tls=False)).pools["p"].tls is None
    assert parse_config(document(pool_tls={"verify": False})).pools["p"].tls.verify is False  # type: ignore[union-attr]
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    lines = problems(document(pool_tls={"verify": False, "ca": str(bundle)}))
    assert lines == ["site.yaml: pools.p.tls: ca applies only when verify is true; "
                     "remove ca, or verify: true"]
    lines = problems(document(pool_tls={"ca": str(tmp_path / "missing.pem")}))
    assert len(lines) == 1 and lines[0].startswith("site.yaml: pools.p.tls.ca: CA bundle file")


def test_relative_paths_are_relative_to_the_config_file(ca: trustme.CA, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    write_pair(ca, tmp_path / "certs")
    config_file = tmp_path / "laneway.yaml"
    config_file.write_text(
        "listeners:\n"
        "  - {name: web, bind: 127.0.0.1:8443, routes: [{pool: p}],\n"
        "     tls: {certificates: [{cert: certs/site.pem, key: certs/site.key}]}}\n"
        "pools: {p: {servers: [{address: 127.0.0.1:9001}]}}\n")
    config = load_config(config_file)
    assert config.listeners[0].tls is not None
    assert config.listeners[0].tls.certificates[0].cert == str(tmp_path / "certs" / "site.pem")


def test_a_redirect_listener_needs_no_routes_and_takes_none(ca: trustme.CA, tmp_path: Path) -> None:
    doc = document()
    listener = doc["listeners"][0]
    del listener["routes"]
    assert problems(doc) == ["site.yaml: listeners[0]: an http listener needs routes, e.g. routes: "
                             "[{pool: web}], a default_pool, or both; or redirect_to_https: true for "
                             "one that only sends clients to HTTPS"]
    listener["redirect_to_https"] = True
    redirect = parse_config(doc).listeners[0].redirect_to_https
    assert redirect is not None and (redirect.port, redirect.status) == (443, 301)
    listener["routes"] = [{"pool": "p"}]
    assert problems(doc) == ["site.yaml: listeners[0]: a listener with redirect_to_https answers every "
                             "request itself and never uses routes; remove routes and default_pool"]
    del listener["routes"]
    listener["tls"] = {"certificates": [write_pair(ca, tmp_path)]}
    lines = problems(doc)
    assert len(lines) == 1 and "redirect_to_https belongs on a plain HTTP listener" in lines[0]
    del listener["tls"]
    listener["redirect_to_https"] = {"port": 0, "status": 200}
    assert problems(doc) == ["site.yaml: listeners[0].redirect_to_https.port: must be >= 1, got 0",
                             "site.yaml: listeners[0].redirect_to_https.status: got 200; "
                             "expected one of 301, 302, 307 or 308"]


def test_a_pool_with_tls_cannot_serve_a_tcp_listener() -> None:
    lines = problems({"listeners": [{"name": "db", "bind": "127.0.0.1:0", "protocol": "tcp", "pool": "p"}],
                      "pools": {"p": {"servers": [{"address": "127.0.0.1:9001"}], "tls": True}}})
    assert lines == ["site.yaml: pools.p.tls: is spoken only by http listeners, and tcp listener 'db' uses "
                     "this pool: a tcp listener passes bytes (TLS included) through as they come; remove "
                     "it, or give that listener a pool of its own"]
