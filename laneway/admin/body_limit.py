"""A cap on admin request bodies.

FastAPI reads a JSON body whole, before any dependency (the token check among them) runs:
without a cap, anyone who can reach the admin port could make laneway hold a body of any
size in memory. Every admin body is a small JSON object, so a few KiB are plenty.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laneway.admin.errors import error_response

MAX_BODY = 16 * 1024


class BodyLimit:
    """ASGI middleware: a declared Content-Length over ``limit`` gets 413 before any of the
    body is read; otherwise the body (chunked, or declared small) is read here, up to
    ``limit`` bytes, and handed on whole. Over the limit: 413, JSON as every admin error."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = error_response(413, f"the request body is over {self.limit} bytes; admin bodies are "
                                      "small JSON objects", "body")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await refusal(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nothing to answer
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await refusal(scope, receive, send)
                return
        whole: Message | None = {"type": "http.request", "body": bytes(body), "more_body": False}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # after the body: waits for the client to leave

        await self.app(scope, replay, send)
