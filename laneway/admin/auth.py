"""Bearer tokens: where the token comes from, and the check each protected endpoint makes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laneway.admin.errors import AdminError
from laneway.config.schema import Admin as AdminConfig
from laneway.config.schema import is_loopback

# auto_error off: a missing or malformed header gets laneway's JSON 401, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="the admin token (admin.token or admin.token_env)")

Guard = Callable[[HTTPAuthorizationCredentials | None], Awaitable[None]]


def resolve_token(config: AdminConfig, environ: Mapping[str, str]) -> str | None:
    """The token the config names, read from the environment when it says ``token_env``."""
    if config.token_env is None:
        return config.token
    token = environ.get(config.token_env, "")
    if not token:
        raise ValueError(f"admin.token_env: the environment variable {config.token_env} is not set or "
                         "empty; set it to the admin token before starting laneway")
    return token


def guard(token: str | None) -> Guard:
    """A dependency that lets a request through only with ``Authorization: Bearer <token>``
    (everything passes when ``token`` is None: a loopback listener without a token)."""
    expected = token.encode() if token is not None else None

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if expected is None:
            return
        if credentials is None:
            raise AdminError(401, "this needs the admin token: send 'Authorization: Bearer <token>'")
        # Constant time: the comparison must not tell an attacker how much of a guess was right.
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise AdminError(401, "the bearer token is not the admin token")

    return check


def host_name(header: str) -> str:
    """The host part of a Host header: ``[::1]:9000`` -> ``::1``, ``localhost:9000`` -> ``localhost``."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


async def loopback_host(request: Request) -> None:
    """Without a token, answer only requests addressed to a loopback name or address.

    A web page the operator visits can point its own DNS name at 127.0.0.1 (DNS rebinding)
    and then call the admin API as if from the same origin; its requests then carry that
    name in Host. (Cross-origin calls are already stopped: the API takes JSON only with
    ``Content-Type: application/json``, which browsers send cross-origin only after a CORS
    preflight that laneway never approves.)
    """
    host = host_name(request.headers.get("host", ""))
    if not is_loopback(host):
        raise AdminError(403, f"Host {host!r} is not a loopback name or address: without a token the "
                              "admin API answers only requests to 127.0.0.1, ::1 or localhost; set "
                              "admin.token_env to reach it by another name", "Host")


async def same_origin(request: Request) -> None:
    """Refuse a change sent by a web page of another origin.

    A change without a body (``POST /api/reload``) is a "simple" request that a page on any
    site can send cross-origin without a CORS preflight, so the JSON content-type guard does
    not cover it. Browsers name the sending page's origin in ``Origin`` on every cross-origin
    POST (Fetch standard, "origin header"); shells and scripts send none. The stats page,
    served by the admin listener itself, sends its own origin, which matches ``Host``.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin.partition("://")[2] != host:
        raise AdminError(403, f"a change sent by a web page of another origin ({origin}) is refused; "
                              "call the admin API from a shell, a script or its own stats page", "Origin")
