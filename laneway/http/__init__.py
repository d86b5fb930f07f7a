"""The layer 7 (HTTP/1.1) proxy."""

from laneway.http.deadlines import DeadlineSweeper
from laneway.http.listener import HttpListener, ListenerSettings

__all__ = ["DeadlineSweeper", "HttpListener", "ListenerSettings"]
