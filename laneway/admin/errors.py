"""Every error the admin API answers is JSON: ``{"error": "...", "field": "..."}``.

``field`` names the part of the request that is wrong (``weight``, ``pool``, ``address``)
when one is; ``error`` says what is wrong and, where it can, what to do instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    error: str
    field: str | None = None


class AdminError(Exception):
    """An answer other than success: its status, what is wrong and which field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(ErrorBody(error=message, field=field).model_dump(), status_code=status,
                        headers=headers)


def describe_validation(errors: Any) -> tuple[str, str | None]:
    """The first problem FastAPI found in a request, as (message, field)."""
    messages = []
    first_field: str | None = None
    for item in errors:
        # loc is ("body", "weight") or ("path", "pool"): the field is what follows the part.
        if item.get("type") == "json_invalid":
            first_field = first_field or "body"
            messages.append("body: not valid JSON")
            continue
        if item.get("loc") == ("body",) and isinstance(item.get("input"), bytes):
            first_field = first_field or "body"
            messages.append("body: send JSON with 'Content-Type: application/json'")
            continue
        loc = [str(part) for part in item.get("loc", ())[1:]]
        field = ".".join(loc) or str(item.get("loc", ("body",))[0])
        first_field = first_field or field
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        shown = "" if item.get("type") == "missing" else f", got {item.get('input')!r}"
        messages.append(f"{field}: {message}{shown}")
    return "; ".join(messages), first_field


def install_error_handlers(app: FastAPI) -> None:
    async def admin_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, AdminError)
        return error_response(error.status, error.message, error.field)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        message, field = describe_validation(error.errors())
        return error_response(422, message, field)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404:
            return error_response(404, f"no such endpoint: {request.method} {request.url.path}; "
                                       "see /openapi.json for the API")
        if error.status_code == 405:
            return error_response(405, f"{request.method} is not allowed on {request.url.path}")
        return error_response(error.status_code, str(error.detail))

    app.add_exception_handler(AdminError, admin_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
