"""The layer 7 (HTTP/1.1) proxy."""

from laneway.http.access_log import AccessLog
from laneway.http.deadlines import DeadlineSweeper
from laneway.http.listener import HttpListener, ListenerSettings
from laneway.http.redirect import HttpsRedirect

__all__ = ["AccessLog", "DeadlineSweeper", "HttpListener", "HttpsRedirect", "ListenerSettings"]
