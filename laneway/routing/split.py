"""A route that splits its requests between pools by weight (A/B tests, canaries).

Arms are chosen by smooth weighted round robin (``laneway.balancing``), so the shares are
exact over every cycle of the total weight rather than close on average: weights 10 and 90
send exactly 10 of every 100 requests to the first arm.

Stickiness: with a ``StickyCookie`` the response to a client that has no valid cookie gets a
``Set-Cookie`` naming its arm, and later requests carrying it go to that arm again while the
arm exists (even at weight 0, so setting a canary's weight to 0 keeps its users and sends it
no new ones), unless no server of the arm's pool may take traffic. The value is opaque: an
HMAC of the route and the arm under a secret, so a client cannot choose an arm by writing its
own cookie; a forged or unknown value is ignored and the client is assigned afresh. The
valid values are computed once, so honouring a cookie costs a dict lookup, not an HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from laneway.balancing import NO_CONTEXT, WeightedRoundRobin
from laneway.routing.request import Request, cookie_value
from laneway.upstream import Pool


@dataclass(frozen=True, slots=True)
class StickyCookie:
    name: bytes
    secret: bytes
    max_age: int | None = None  # seconds; a session cookie when None
    secure: bool = False  # on TLS listeners: the browser never sends it over plain HTTP


@dataclass(eq=False, slots=True)
class Arm:
    pool: Pool
    weight: int
    key: str  # for the balancing algorithm: unique within the split
    cookie: bytes = b""  # the sticky cookie's value naming this arm
    set_cookie: bytes = b""  # the response header line that sets it, CRLF first


class Split:
    def __init__(self, arms: Sequence[tuple[Pool, int]], *, sticky: StickyCookie | None = None,
                 scope: str = "") -> None:
        """``scope`` (the listener's name) goes into the cookie: a cookie names a pool within it,
        so reordering or re-weighting the arms keeps every client on its arm."""
        self.arms = [Arm(pool, weight, key=pool.name) for pool, weight in arms]
        self.sticky = sticky
        self.balancer: WeightedRoundRobin[Arm] = WeightedRoundRobin()
        self.balancer.update([arm for arm in self.arms if arm.weight > 0])
        self.by_cookie: dict[bytes, Arm] = {}
        if sticky is not None:
            for arm in self.arms:
                arm.cookie = cookie_for(sticky.secret, scope, arm.key)
                attributes = b"; Path=/; HttpOnly; SameSite=Lax"
                if sticky.max_age is not None:
                    attributes += b"; Max-Age=%d" % sticky.max_age
                if sticky.secure:
                    attributes += b"; Secure"
                arm.set_cookie = b"\r\nSet-Cookie: %s=%s%s" % (sticky.name, arm.cookie, attributes)
                self.by_cookie[arm.cookie] = arm

    @property
    def pools(self) -> list[Pool]:
        return [arm.pool for arm in self.arms]

    def choose(self, request: Request) -> tuple[Pool, bytes]:
        """The pool for this request, and the header line to add to its response (or b"")."""
        sticky = self.sticky
        if sticky is not None:
            value = cookie_value(request, sticky.name)
            if value is not None:
                remembered = self.by_cookie.get(value)
                if remembered is not None and remembered.pool.available:
                    return remembered.pool, b""
        arm = self.balancer.pick(NO_CONTEXT)
        assert arm is not None  # the schema asks for one arm of weight > 0
        return arm.pool, arm.set_cookie


def cookie_for(secret: bytes, scope: str, arm_key: str) -> bytes:
    """An opaque value naming one arm: 128 bits of HMAC-SHA256, base64url."""
    digest = hmac.new(secret, f"{scope}\0{arm_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=")
