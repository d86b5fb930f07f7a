"""The layer 7 (HTTP/1.1) proxy."""

from laneway.http.access_log import AccessLog
from laneway.http.deadlines import DeadlineSweeper
from laneway.http.listener import HttpListener, ListenerSettings

__all__ = ["AccessLog", "DeadlineSweeper", "HttpListener", "ListenerSettings"]
