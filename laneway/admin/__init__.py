"""The admin listener: liveness and readiness, a JSON API to see and steer the pools while
laneway runs, and Prometheus metrics (docs/admin.md).

It is not on the request path, so it uses libraries made for the job: FastAPI (which also
writes the OpenAPI description) served by uvicorn on laneway's own event loop, and
prometheus-client. Every endpoint is a coroutine, so it runs on the loop thread and reads and
changes the runtime's state between requests, never while one is half-handled.
"""

from laneway.admin.app import create_app
from laneway.admin.auth import resolve_token
from laneway.admin.listener import AdminServer

__all__ = ["AdminServer", "create_app", "resolve_token"]
