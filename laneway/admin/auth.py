"""Bearer tokens: where the token comes from, and the check each protected endpoint makes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laneway.admin.errors import AdminError
from laneway.config.schema import Admin as AdminConfig

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
