"""What a test backend received: every connection, its raw bytes and its parsed requests.

Records are written on the event loop thread and read by the test thread once the exchange
it cares about is over (the proxy and the backends share one loop, so a response seen by the
client was produced after the backend recorded the request).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.support.headers import HeaderLookup
from tests.support.payload import Digester

# Raw bytes and request bodies are kept up to this size; beyond it only length and digest.
RECORD_LIMIT = 1024 * 1024


@dataclass
class RequestRecord(HeaderLookup):
    method: str = ""
    target: str = ""
    version: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    body_digest: Digester = field(default_factory=Digester)
    complete: bool = False
    keep_alive: bool = True
    upgrade: bool = False

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.target).query).items()}

    @property
    def body_size(self) -> int:
        return self.body_digest.size


    def add_body(self, data: bytes) -> None:
        self.body_digest.update(data)
        if len(self.body) < RECORD_LIMIT:
            self.body += data[: RECORD_LIMIT - len(self.body)]

    def as_json(self) -> bytes:
        return json.dumps({
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": self.headers,
        }).encode()


@dataclass
class ConnectionRecord:
    peer: tuple[str, int]
    raw: bytearray = field(default_factory=bytearray)
    raw_size: int = 0
    requests: list[RequestRecord] = field(default_factory=list)
    parse_error: str | None = None
    closed: bool = False

    def add_raw(self, data: bytes) -> None:
        self.raw_size += len(data)
        if len(self.raw) < RECORD_LIMIT:
            self.raw += data[: RECORD_LIMIT - len(self.raw)]
