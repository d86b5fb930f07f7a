"""Access logs: one line per request, written in batches off the request path.

``record()`` formats a line and appends it to a buffer; a timer writes the buffer every
``FLUSH_EVERY`` seconds (or sooner once ``MAX_BUFFERED`` lines wait), so no request waits on
a write. ``reopen()`` (SIGUSR1) closes and opens the file again, for log rotation.

Two formats: ``json`` (one object per line, every field) and ``combined`` (NGINX's and
Apache's combined format, for tools that read it, with laneway's fields appended).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from laneway.http.exchange import Exchange

log = logging.getLogger("laneway.http")

FLUSH_EVERY = 0.1  # seconds
MAX_BUFFERED = 512  # lines


class AccessLog:
    def __init__(self, loop: asyncio.AbstractEventLoop, path: str = "stderr", fmt: str = "json") -> None:
        if fmt not in ("json", "combined"):
            raise ValueError(f"format must be json or combined, got {fmt!r}")
        self.loop = loop
        self.path = path
        self.format = fmt
        self.lines: list[str] = []
        self.file: IO[str] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.open()

    def open(self) -> None:
        # Line buffering would write each line on its own; batches are written whole.
        self.file = sys.stderr if self.path == "stderr" else open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def reopen(self) -> None:
        """Write what is buffered, then open the file again (a rotated file is let go)."""
        self.flush()
        if self.file is not None and self.file is not sys.stderr:
            self.file.close()
        self.open()

    def close(self) -> None:
        self.flush()
        if self.file is not None and self.file is not sys.stderr:
            self.file.close()
        self.file = None

    def record(self, exchange: Exchange, status: int, now: float) -> None:
        """One finished (or abandoned) request at ``now`` (``time.monotonic()``); ``status``
        499: the client left first."""
        facts = exchange.log_facts
        if facts is None:
            return
        method, target, host, client, request_id, referer, user_agent, started = facts
        server = exchange.served_by
        total = now - started
        pool = exchange.pool.name if exchange.pool is not None else None  # None: laneway answered
        upstream = exchange.head_at - started if exchange.head_at else None
        if self.format == "json":
            line = json.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "request_id": request_id,
                "client": client,
                "method": method,
                "host": host,
                "target": target,
                "status": status,
                "bytes": exchange.bytes_out,
                "pool": pool,
                "server": server,
                "retries": len(exchange.tried),
                "duration": round(total, 6),
                "upstream_duration": None if upstream is None else round(upstream, 6),
                "cache": exchange.cache_status,
            }, separators=(",", ":"))
        else:
            line = (f'{client} - - [{time.strftime("%d/%b/%Y:%H:%M:%S %z")}] "{method} {target} HTTP/1.1" '
                    f'{status} {exchange.bytes_out} "{referer or "-"}" "{user_agent or "-"}" '
                    f'pool={pool or "-"} server={server or "-"} retries={len(exchange.tried)} '
                    f'duration={total:.6f} upstream={"-" if upstream is None else f"{upstream:.6f}"} '
                    f'request_id={request_id or "-"} cache={exchange.cache_status or "-"}')
        self.add(line)

    def record_refused(self, client: str, status: int, detail: str) -> None:
        """A request laneway answered itself before any server was chosen (400, 404, 408...)."""
        if self.format == "json":
            line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "client": client,
                               "status": status, "error": detail}, separators=(",", ":"))
        else:
            line = (f'{client} - - [{time.strftime("%d/%b/%Y:%H:%M:%S %z")}] "-" {status} 0 "-" "-" '
                    f'error="{detail}"')
        self.add(line)

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= MAX_BUFFERED:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.lines or self.file is None:
            return
        text = "\n".join(self.lines) + "\n"
        self.lines.clear()
        try:
            self.file.write(text)
            self.file.flush()
        except OSError as error:  # a full disk must not stop the proxy
            log.error("access log %s: cannot write: %s", self.path, error)
