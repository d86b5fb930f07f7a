"""The commented HTTPS listener in examples/laneway.yaml is valid once uncommented."""

from __future__ import annotations

from pathlib import Path

import trustme

from laneway.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "laneway.yaml"


def uncomment_block(text: str, first_line: str) -> str:
    """The example with the commented block that follows ``first_line`` uncommented (the
    lines after it commented at the same indentation)."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if first_line in line) + 1
    indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    end = start
    while end < len(lines) and lines[end].startswith(indent + "# "):
        lines[end] = indent + lines[end][len(indent) + 2:]
        end += 1
    assert end > start, f"no commented block after {first_line!r}"
    return "\n".join(lines) + "\n"


def test_the_https_listener_of_the_example_validates(tmp_path: Path) -> None:
    ca = trustme.CA()
    (tmp_path / "certs").mkdir()
    for name in ("www.example.com", "wildcard.api.example.com"):
        leaf = ca.issue_cert(name.replace("wildcard", "*"))
        leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "certs" / f"{name}.pem"))
        leaf.private_key_pem.write_to_path(str(tmp_path / "certs" / f"{name}.key"))
    config_file = tmp_path / "laneway.yaml"
    ca.cert_pem.write_to_path(str(tmp_path / "certs" / "internal-ca.pem"))
    text = uncomment_block(EXAMPLE.read_text(), "An HTTPS listener")
    text = uncomment_block(text, "Plain HTTP answered with a 301")
    config_file.write_text(uncomment_block(text, "for requests and health checks alike"))
    config = load_config(config_file)
    listeners = {listener.name: listener for listener in config.listeners}
    https = listeners["https"]
    assert https.name == "https" and https.tls is not None
    assert len(https.tls.certificates) == 2 and https.timeouts.handshake == 10.0
    redirect = listeners["http-to-https"]
    assert redirect.name == "http-to-https" and redirect.redirect_to_https is not None
    pool_tls = config.pools["api"].tls
    assert pool_tls is not None and pool_tls.verify and pool_tls.server_name == "api.internal"
