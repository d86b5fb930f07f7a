"""Per-route behaviour: rate limits and request size limits, checked before a request goes
to a server, session persistence to a server, the path and headers changed on the way through,
and compression of the responses."""

from laneway.policies.compression import Compression
from laneway.policies.edits import ResponseEdit, RouteEdits
from laneway.policies.guard import BY_CLIENT, BY_HEADER, BY_ROUTE, Guard
from laneway.policies.headers import HeaderEdit
from laneway.policies.paths import PathRewrite, RegexPathRewrite
from laneway.policies.persistence import CookiePersistence, Persistence, SourcePersistence, Stick
from laneway.policies.rate_limit import Decision, RateLimiter
from laneway.policies.stick_table import StickTable
from laneway.policies.variables import Template, request_values

__all__ = ["BY_CLIENT", "BY_HEADER", "BY_ROUTE", "Compression", "CookiePersistence", "Decision", "Guard",
           "HeaderEdit", "PathRewrite", "Persistence", "RateLimiter", "RegexPathRewrite", "ResponseEdit",
           "RouteEdits", "SourcePersistence", "Stick", "StickTable", "Template", "request_values"]
