"""Errors that carry the status to answer with (h11's ``error_status_hint``).

Raised anywhere while a request is parsed or proxied and caught in one place, the client
connection's ``data_received``, which answers with the status and a short body saying why.
"""

from __future__ import annotations


class HttpError(Exception):
    """The client's request cannot be served; answer ``status`` with ``detail``."""

    def __init__(self, status: int, detail: str, *, close: bool = True) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        # Most errors leave the connection in an unknown state: close it after answering.
        self.close = close
