"""The stats page at ``/``: static HTML, CSS and JavaScript (package data in ``static/``)
that poll the JSON API from the browser; nothing here renders state on the server.

The page is served with a Content-Security-Policy that allows only its own files (no
inline script, no other origin) and forbids framing, so another site can neither inject
into it nor overlay its drain buttons (clickjacking).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def dashboard_routes() -> APIRouter:
    router = APIRouter(tags=["stats page"])

    @router.get("/", response_class=FileResponse,
                responses={200: {"content": {"text/html": {}}, "description": "the stats page"}})
    async def stats_page() -> FileResponse:
        """The live stats page: every pool and server, refreshed from the API every 1.5 s."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers=SECURITY_HEADERS)

    return router


def static_files() -> StaticFiles:
    """The page's CSS and JavaScript, under ``/static/``."""
    return StaticFiles(directory=STATIC)
