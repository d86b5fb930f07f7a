"""Per-route behaviour: rate limits and request size limits, checked before a request goes
to a server, session persistence to a server, and compression of the responses."""

from laneway.policies.compression import Compression
from laneway.policies.guard import BY_CLIENT, BY_HEADER, BY_ROUTE, Guard
from laneway.policies.persistence import CookiePersistence, Persistence, SourcePersistence, Stick
from laneway.policies.rate_limit import Decision, RateLimiter
from laneway.policies.stick_table import StickTable

__all__ = ["BY_CLIENT", "BY_HEADER", "BY_ROUTE", "Compression", "CookiePersistence", "Decision", "Guard",
           "Persistence", "RateLimiter", "SourcePersistence", "Stick", "StickTable"]
