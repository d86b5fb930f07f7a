"""Errors that carry the status to answer with (h11's ``error_status_hint``).

Raised anywhere while a request is parsed or proxied and caught in one place, the client
connection's ``data_received``, which answers with the status and a short body saying why.
"""

from __future__ import annotations


class HttpError(Exception):
    """The client's request cannot be served; answer ``status`` with ``detail`` and close.

    The connection always closes after such an answer: llhttp cannot parse on after a
    callback raised, and a malformed request leaves the byte stream in an unknown state.
    """

    def __init__(self, status: int, detail: str, *, headers: bytes = b"") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers  # extra header lines for the answer, each ending in CRLF
