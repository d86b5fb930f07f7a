"""The config file's shape: listeners, routes, pools, servers (DESIGN.md, "Configuration").

Every model forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Cross-references (a route naming a pool that does not exist) are checked on the
whole document in ``Config``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from laneway.config.certificates import (
    check_ca_bundle,
    check_certificate,
    check_ciphers,
    check_key_matches,
    load_private_key,
    resolve,
)
from laneway.config.units import Duration, Size, format_duration
from laneway.config.variables import REQUEST_VARIABLES, RESPONSE_VARIABLES, split_template, variables_in

ALGORITHM_NAMES = (
    "round_robin",
    "random",
    "weighted_round_robin",
    "least_connections",
    "weighted_least_connections",
    "least_request",
    "least_response_time",
    "ip_hash",
    "hash",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_address(value: str, *, what: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:80`` for IPv6) into its parts, with a clear error."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{what} must be host:port, e.g. 127.0.0.1:8080, got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{what} has an invalid IPv6 address in [...], got {value!r}") from None
    return host, port


class Server(Strict):
    address: str = Field(description="host:port of the server")
    weight: int = Field(default=1, ge=1, le=10_000)
    backup: bool = False
    # ready: takes traffic; drain: no new requests, those under way finish, checks go on;
    # maintenance: no new requests and no health checks (HAProxy's drain and maint).
    state: Literal["ready", "drain", "maintenance"] = "ready"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value, what="a server address")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_address(self.address, what="a server address")


class PoolTimeouts(Strict):
    connect: Duration = Field(default=5.0, gt=0)
    # From the end of the request to the response's head, and between response reads; a
    # try's own limit when the request is retried.
    response: Duration = Field(default=60.0, gt=0)
    # From the request's arrival to the response's head, over every try: no try starts
    # and none waits beyond it (NGINX's proxy_next_upstream_timeout, Envoy's route timeout).
    total: Duration | None = Field(default=None, gt=0)


class KeepAlive(Strict):
    max_idle: int = Field(default=64, ge=0, description="idle connections kept per server")
    idle_timeout: Duration = Field(default=60.0, gt=0)


# Which pool settings each algorithm takes (laneway.balancing's constructors; a test keeps
# the two in step). A setting given to an algorithm that ignores it is an error, not a no-op.
ALGORITHM_OPTIONS: dict[str, tuple[str, ...]] = {
    "round_robin": (),
    "random": ("slow_start",),
    "weighted_round_robin": ("slow_start",),
    "least_connections": (),
    "weighted_least_connections": ("slow_start",),
    "least_request": ("bias", "rate_decay", "slow_start"),
    "least_response_time": ("decay", "default_rtt", "slow_start"),
    "ip_hash": ("replicas", "bound", "slow_start"),
    "hash": ("replicas", "bound", "slow_start"),
}


class HashKey(Strict):
    """Where the ``hash`` algorithm finds a request's key: exactly one of these."""

    header: str | None = Field(default=None, min_length=1)
    cookie: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1, description="a query parameter's name")
    path: bool = False

    @model_validator(mode="after")
    def _one(self) -> HashKey:
        given = [name for name in ("header", "cookie", "query") if getattr(self, name) is not None]
        if self.path:
            given.append("path")
        if len(given) != 1:
            raise ValueError("give exactly one of header, cookie, query or path: true, "
                             f"got {', '.join(given) or 'none'}")
        return self


# Status codes as written in health_check.expect_status: 200, "204" or a range "200-399".
StatusRange = tuple[int, int]


def parse_status_range(value: object) -> StatusRange:
    """``200`` or ``"200-399"`` into ``(low, high)``, both inclusive."""
    if isinstance(value, bool):
        raise ValueError(f"expected a status such as 200 or a range such as 200-399, got {value!r}")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and (match := re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", value)):
        low = int(match.group(1))
        high = int(match.group(2) or low)
    elif isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int for v in value):
        low, high = value  # the parsed form, (low, high), read back
    else:
        raise ValueError(f"expected a status such as 200 or a range such as 200-399, got {value!r}")
    if not (100 <= low <= 599 and 100 <= high <= 599):
        raise ValueError(f"a status is 100-599, got {value!r}")
    if low > high:
        raise ValueError(f"a status range goes from low to high, e.g. 200-399, got {value!r}")
    return low, high


def format_status_range(value: StatusRange) -> int | str:
    low, high = value
    return low if low == high else f"{low}-{high}"


Status = Annotated[StatusRange, BeforeValidator(parse_status_range), PlainSerializer(format_status_range)]

# Settings that only an HTTP check reads; giving one to a TCP check is an error, not a no-op.
HTTP_CHECK_SETTINGS = ("method", "path", "host", "expect_status", "expect_body")


class HealthCheck(Strict):
    """Active health checks of a pool's servers (docs/health.md).

    Defaults are HAProxy's (``inter 2s rise 2 fall 3``); a server is marked down after ``fall``
    consecutive failed checks and up again after ``rise`` consecutive passed ones.
    """

    type: Literal["http", "tcp"] = "http"
    method: str = Field(default="GET", description="e.g. GET or HEAD")
    path: str = Field(default="/health", description="path and query")
    host: str | None = Field(default=None, description="Host header; the server's address when not given")
    expect_status: list[Status] = Field(default_factory=lambda: [(200, 399)], min_length=1)
    expect_body: str | None = Field(default=None, min_length=1, description="a substring of the body")
    interval: Duration = Field(default=2.0, gt=0, description="from one check of a server to its next")
    timeout: Duration = Field(default=1.0, gt=0, description="for one whole check")
    rise: int = Field(default=2, ge=1, le=1000)
    fall: int = Field(default=3, ge=1, le=1000)
    jitter: float = Field(default=0.1, ge=0, le=1, description="fraction of interval, +/-")

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]+", value):
            raise ValueError(f"a method is upper-case letters, e.g. GET or HEAD, got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        # Visible ASCII only: the path goes into the request line as it is written.
        if not re.fullmatch(r"/[\x21-\x7e]*", value):
            raise ValueError("a path starts with / and has no spaces or control characters "
                             f"(percent-encode them), got {value!r}")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\x21-\x7e]+", value):
            raise ValueError(f"a Host header is a name or address without spaces, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HealthCheck:
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({format_duration(self.timeout)}) must not exceed interval "
                             f"({format_duration(self.interval)}): a check must end before the next "
                             "one is due; shorten timeout or lengthen interval")
        if self.expect_body is not None and self.method == "HEAD":
            raise ValueError("expect_body needs a method whose response has a body; a response "
                             "to HEAD has none: use GET")
        if self.type == "tcp":
            given = [name for name in HTTP_CHECK_SETTINGS if name in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)} applies only to type http; "
                                 "a tcp check only connects")
        return self

    def status_expected(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.expect_status)


def check_statuses(value: list[int]) -> list[int]:
    wrong = [status for status in value if not 100 <= status <= 599]
    if wrong:
        raise ValueError(f"statuses are 100-599, got {wrong}")
    return value


class OutlierDetection(Strict):
    """Passive checks: eject a server after failures in real traffic (docs/health.md)."""

    consecutive_failures: int = Field(default=5, ge=1, le=1000)
    ejection_time: Duration = Field(default=30.0, gt=0, description="first ejection; doubles each time")
    max_ejection_time: Duration = Field(default=300.0, gt=0)
    # Statuses from a server that count as its failure (besides no answer at all).
    failure_statuses: list[int] = Field(default_factory=lambda: [502, 503, 504])

    @field_validator("failure_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return check_statuses(value)

    @model_validator(mode="after")
    def _order(self) -> OutlierDetection:
        if self.max_ejection_time < self.ejection_time:
            raise ValueError(f"max_ejection_time ({self.max_ejection_time:g}s) must be at least "
                             f"ejection_time ({self.ejection_time:g}s)")
        return self


# What may make laneway send a request to another server (NGINX's proxy_next_upstream).
RETRY_CONDITIONS = ("connect_failure", "reset", "timeout")
DEFAULT_RETRY_ON: tuple[str | int, ...] = ("connect_failure", "reset")


def parse_retry_condition(value: object) -> str | int:
    if isinstance(value, str) and value in RETRY_CONDITIONS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 500 <= value <= 599:
        return value
    if isinstance(value, str) and value.isdigit() and 500 <= int(value) <= 599:
        return int(value)
    raise ValueError(f"expected one of {', '.join(RETRY_CONDITIONS)} or a 5xx status such as 503, "
                     f"got {value!r}")


RetryCondition = Annotated[str | int, BeforeValidator(parse_retry_condition)]


class RetryBudget(Strict):
    """Retries over the last 10 seconds may be at most ``percent`` of the first tries in that
    time, plus ``min_per_second`` (Finagle's retry budget): retries cannot multiply the load
    on servers that are all failing, yet a burst when one server dies is paid for."""

    percent: float = Field(default=20.0, ge=0, le=1000)
    min_per_second: float = Field(default=10.0, ge=0, le=1_000_000)


class CircuitBreaker(Strict):
    """The chapter's three states per server: closed, open after ``failures`` in a row,
    half-open after ``open_for`` (``half_open_requests`` trial requests at a time; that many
    successes close it, one failure opens it again)."""

    failures: int = Field(default=5, ge=1, le=1000)
    open_for: Duration = Field(default=30.0, gt=0)
    half_open_requests: int = Field(default=1, ge=1, le=1000)
    # Statuses from a server that count as its failure (besides no answer at all).
    failure_statuses: list[int] = Field(default_factory=lambda: [502, 503, 504])

    @field_validator("failure_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return check_statuses(value)


class ServerLimits(Strict):
    """Caps per server (Envoy's circuit-breaker thresholds). A server at a cap takes no more;
    the request goes to another server, or gets 503 when every server is at its cap."""

    max_requests: int | None = Field(default=None, ge=1, description="requests under way")
    max_connecting: int | None = Field(default=None, ge=1, description="connections being opened")
def config_path(value: str, info: ValidationInfo) -> str:
    """A file named in the config, made absolute: relative to the config file's directory
    (``base_dir`` in the validation context, which the loader passes)."""
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    return str(resolve(value, Path(base_dir) if base_dir is not None else None))


def _tls_version(value: object) -> object:
    # YAML reads 1.2 as a number; the versions are names here.
    return f"{value:g}" if isinstance(value, float) else value


TlsVersion = Annotated[Literal["1.2", "1.3"], BeforeValidator(_tls_version)]


class CertificateFiles(Strict):
    """One certificate a TLS listener offers, with its key (both PEM files)."""

    cert: str = Field(min_length=1, description="PEM: the certificate, then its chain")
    key: str = Field(min_length=1, description="PEM: its unencrypted private key")

    @field_validator("cert")
    @classmethod
    def _cert(cls, value: str, info: ValidationInfo) -> str:
        path = config_path(value, info)
        context = info.context if isinstance(info.context, dict) else {}
        check_certificate(Path(path), now=context.get("now"))
        return path

    @field_validator("key")
    @classmethod
    def _key(cls, value: str, info: ValidationInfo) -> str:
        path = config_path(value, info)
        load_private_key(Path(path))
        return path

    @model_validator(mode="after")
    def _pair(self) -> CertificateFiles:
        check_key_matches(Path(self.cert), Path(self.key))
        return self


def ca_bundle(value: str | None, info: ValidationInfo) -> str | None:
    """A CA bundle's path, relative to the config file, once it is read and found valid."""
    if value is None:
        return None
    path = config_path(value, info)
    check_ca_bundle(Path(path))
    return path


class ListenerTls(Strict):
    """TLS termination on an HTTP listener (docs/tls.md)."""

    # The first is offered to clients that send no SNI name, or one no certificate covers.
    certificates: list[CertificateFiles] = Field(min_length=1)
    min_version: TlsVersion = "1.2"
    ciphers: str | None = Field(default=None, min_length=1, description="OpenSSL list for TLS 1.2")
    # Client certificates (mTLS): verified against this CA bundle when given.
    client_ca: str | None = Field(default=None, min_length=1)
    client_certificates: Literal["required", "optional"] = "required"

    @field_validator("ciphers")
    @classmethod
    def _ciphers(cls, value: str | None) -> str | None:
        return value if value is None else check_ciphers(value)

    @field_validator("client_ca")
    @classmethod
    def _client_ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        return ca_bundle(value, info)

    @model_validator(mode="after")
    def _client_settings(self) -> ListenerTls:
        if "client_certificates" in self.model_fields_set and self.client_ca is None:
            raise ValueError("client_certificates needs client_ca, the CA bundle that client "
                             "certificates are verified against")
        return self


class PoolTls(Strict):
    """TLS to a pool's servers (docs/tls.md). ``tls: true`` is ``tls: {}``: verified against
    the system's CA store, the name checked being the server's host."""

    verify: bool = True
    ca: str | None = Field(default=None, min_length=1, description="CA bundle instead of the system store")
    server_name: str | None = Field(
        default=None, min_length=1, description="SNI name, and the name verified; default: the server's host")

    @field_validator("ca")
    @classmethod
    def _ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        return ca_bundle(value, info)

    @model_validator(mode="after")
    def _verify(self) -> PoolTls:
        if not self.verify and self.ca is not None:
            raise ValueError("ca applies only when verify is true; remove ca, or verify: true")
        return self


def _tls_switch(value: object) -> object:
    return {} if value is True else None if value is False else value


class Pool(Strict):
    algorithm: Literal[ALGORITHM_NAMES] = "least_request"  # type: ignore[valid-type]
    servers: list[Server] = Field(min_length=1)
    timeouts: PoolTimeouts = PoolTimeouts()
    keepalive: KeepAlive = KeepAlive()
    # Other servers to try when a server cannot be reached, or closes before answering a
    # request that is safe to repeat and of which no body byte was sent (NGINX's
    # proxy_next_upstream error; 0 turns it off).
    retries: int = Field(default=2, ge=0, le=10)
    # When a retry is allowed. connect_failure: no connection could be made (any request);
    # reset: the server closed before answering; timeout: no answer within timeouts.response;
    # a 5xx status: the server answered it. The last three only for requests safe to repeat.
    retry_on: list[RetryCondition] = Field(default_factory=lambda: list(DEFAULT_RETRY_ON))
    # Request bodies up to this size are kept so that a retry can send them again.
    retry_body_limit: Size = Field(default=64 * 1024, ge=0)
    # A request carrying this header counts as safe to repeat whatever its method, e.g. a
    # POST with an Idempotency-Key that the servers deduplicate.
    idempotency_header: str | None = Field(default=None, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    retry_budget: RetryBudget = RetryBudget()
    limits: ServerLimits = ServerLimits()
    # Algorithm settings (see docs/balancing.md); each applies to the algorithms listed above.
    slow_start: Duration | None = Field(default=None, ge=0, description="ramp-up for a returning server")
    bias: float | None = Field(default=None, ge=0, le=10)
    rate_decay: Duration | None = Field(default=None, gt=0)
    decay: Duration | None = Field(default=None, gt=0)
    default_rtt: Duration | None = Field(default=None, gt=0)
    replicas: int | None = Field(default=None, ge=1, le=10_000)
    bound: float | None = Field(default=None, ge=1)
    hash_key: HashKey | None = None
    health_check: HealthCheck | None = None
    outlier_detection: OutlierDetection | None = None
    circuit_breaker: CircuitBreaker | None = None
    # Sent to each server before the client's bytes by tcp listeners (HAProxy's send-proxy and
    # send-proxy-v2), so the servers see the client's address (docs/tcp.md).
    proxy_protocol: Literal["v1", "v2"] | None = None
    tls: Annotated[PoolTls | None, BeforeValidator(_tls_switch)] = None

    @property
    def algorithm_options(self) -> dict[str, object]:
        """The settings given for this pool's algorithm, as keyword arguments for it."""
        return {name: getattr(self, name) for name in ALGORITHM_OPTIONS[self.algorithm]
                if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _algorithm_settings(self) -> Pool:
        accepted = ALGORITHM_OPTIONS[self.algorithm]
        for name in ("slow_start", "bias", "rate_decay", "decay", "default_rtt", "replicas", "bound"):
            if getattr(self, name) is not None and name not in accepted:
                users = sorted(a for a, names in ALGORITHM_OPTIONS.items() if name in names)
                raise ValueError(f"{name} does not apply to algorithm {self.algorithm}; "
                                 f"it applies to {', '.join(users)}")
        if self.algorithm == "hash" and self.hash_key is None:
            raise ValueError("algorithm hash needs hash_key, e.g. hash_key: {header: X-User-Id}")
        if self.algorithm != "hash" and self.hash_key is not None:
            raise ValueError(f"hash_key applies only to algorithm hash, not {self.algorithm}")
        return self

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, value: list[str | int]) -> list[str | int]:
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return value

    @property
    def retry_statuses(self) -> frozenset[int]:
        return frozenset(v for v in self.retry_on if isinstance(v, int))

    @model_validator(mode="after")
    def _primary(self) -> Pool:
        if all(server.backup for server in self.servers):
            raise ValueError("a pool needs at least one server that is not a backup")
        addresses = [server.address for server in self.servers]
        duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
        if duplicates:
            raise ValueError(f"server listed twice: {', '.join(duplicates)}")
        return self


# A TLS server name as a tcp route matches it: a name, or "*." and a name for its subdomains.
SNI_PATTERN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


# Request headers laneway consumes or replaces before routing sees the request: a route cannot
# match on them (Host has match.host; the rest are hop-by-hop or set by laneway itself).
UNMATCHABLE_HEADERS = frozenset({
    "host", "connection", "keep-alive", "te", "trailer", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "x-real-ip", "x-forwarded-proto",
})
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
# A host as routes write it: DNS labels, or an IPv4 address, or a bracketed IPv6 address.
HOST_NAME = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")


def compile_regex(value: str, what: str) -> str:
    """Check that ``value`` compiles as a Python regular expression; the error says where."""
    try:
        re.compile(value.encode())  # matched against the request's bytes
    except re.error as error:
        raise ValueError(f"{what} is not a valid regular expression ({error}); "
                         f"see https://docs.python.org/3/library/re.html, got {value!r}") from None
    return value


def _shorthand(value: object) -> object:
    """``true``/``false`` -> present; a string or a list of strings -> equals."""
    if isinstance(value, bool):
        return {"present": value}
    if isinstance(value, str | list):
        return {"equals": value}
    return value


class ValueTest(Strict):
    """What a named cookie or query parameter must be: present (or absent), or equal to a value."""

    present: bool | None = None
    equals: list[str] | None = Field(default=None, min_length=1, description="any one of these")

    @field_validator("equals", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueTest:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            choices = ", ".join(type(self).model_fields)
            raise ValueError(f"give exactly one of {choices}, got {', '.join(given) or 'none'}; "
                             "e.g. {equals: 'true'} or {present: true}")
        return self


class HeaderTest(ValueTest):
    """What a named header must be: present (or absent), equal to a value, or match a regex."""

    regex: str | None = Field(default=None, description="Python re, searched in the value")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else compile_regex(value, "regex")


ValueCondition = Annotated[ValueTest, BeforeValidator(_shorthand)]
HeaderCondition = Annotated[HeaderTest, BeforeValidator(_shorthand)]


def _one_or_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class Match(Strict):
    """What a request must have for a route to take it; every condition given must hold."""

    host: str | None = Field(default=None, description="exact Host without port, or *.example.com")
    path_prefix: str | None = None
    path: str | None = Field(default=None, description="the exact path, without the query")
    path_regex: str | None = Field(default=None, description="Python re, searched in the path")
    method: Annotated[list[str], BeforeValidator(_one_or_list)] | None = Field(default=None, min_length=1)
    headers: dict[str, HeaderCondition] | None = Field(default=None, min_length=1)
    cookies: dict[str, ValueCondition] | None = Field(default=None, min_length=1)
    query: dict[str, ValueCondition] | None = Field(default=None, min_length=1)
    client_address: Annotated[list[str], BeforeValidator(_one_or_list)] | None = Field(
        default=None, min_length=1, description="CIDR ranges, IPv4 or IPv6")
    # The client address's country in the geoip database (ISO 3166-1 alpha-2 codes).
    country: Annotated[list[str], BeforeValidator(_one_or_list)] | None = Field(default=None, min_length=1)
    sni: str | None = Field(default=None, description="TLS server name (tcp listeners); *.example.com "
                                                      "for any subdomain")

    @field_validator("sni")
    @classmethod
    def _sni(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.lower().rstrip(".")
            if len(value) > 253 or not SNI_PATTERN.fullmatch(value):
                raise ValueError(f"sni is a DNS name such as api.example.com, or *.example.com for its "
                                 f"subdomains, got {value!r}")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host = value.lower().rstrip(".")
        if host.startswith("[") and host.endswith("]"):
            try:
                ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                raise ValueError(f"a host in [...] is an IPv6 address, got {value!r}") from None
            return host
        wildcard = host.startswith("*.")
        name = host[2:] if wildcard else host
        if ":" in name:
            raise ValueError(f"a host is matched without its port; write {name.split(':')[0]!r}, "
                             f"got {value!r}")
        if not HOST_NAME.fullmatch(name):
            raise ValueError("a host is a name such as admin.example.com, or *.example.com for "
                             f"every name under example.com (a * only as the first label), got {value!r}")
        return host

    @field_validator("path_prefix", "path")
    @classmethod
    def _slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"a path starts with /, got {value!r}")
        if value is not None and not re.fullmatch(r"[\x21-\x7e]*", value):
            raise ValueError("a path has no spaces or control characters (write them percent-encoded, "
                             f"as clients send them), got {value!r}")
        return value

    @field_validator("path_regex")
    @classmethod
    def _path_regex(cls, value: str | None) -> str | None:
        return None if value is None else compile_regex(value, "path_regex")

    @field_validator("method")
    @classmethod
    def _method(cls, value: list[str] | None) -> list[str] | None:
        for method in value or ():
            if not re.fullmatch(r"[A-Z]+", method):
                raise ValueError(f"a method is upper-case letters, e.g. GET or POST, got {method!r}")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, HeaderTest] | None) -> dict[str, HeaderTest] | None:
        for name in value or ():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"a header name is letters, digits and -, e.g. X-Mobile-App, got {name!r}")
            if name.lower() == "host":
                raise ValueError("match the Host header with match.host, e.g. host: admin.example.com")
            if name.lower() in UNMATCHABLE_HEADERS:
                raise ValueError(f"{name} is hop-by-hop or set by laneway, so a route cannot match "
                                 "on it; match on another header")
        lowered = [name.lower() for name in value or ()]
        twice = sorted({name for name in lowered if lowered.count(name) > 1})
        if twice:
            raise ValueError(f"header names ignore case, so {', '.join(twice)} is given twice; "
                             "keep one")
        return value

    @field_validator("cookies", "query")
    @classmethod
    def _names(cls, value: dict[str, ValueTest] | None) -> dict[str, ValueTest] | None:
        for name in value or ():
            if not name or not re.fullmatch(r"[\x21-\x7e]+", name) or ";" in name or "=" in name:
                raise ValueError(f"a name has no spaces, ';' or '=', got {name!r}")
        return value

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        for code in value or ():
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError("a country is a two-letter ISO 3166-1 code in capitals, e.g. DE or US, "
                                 f"got {code!r}")
        return value

    @field_validator("client_address")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        for text in value or ():
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError("client_address takes address ranges such as 10.0.0.0/8, "
                                 f"192.168.1.7 or 2001:db8::/32, got {text!r}") from None
        return value


class SplitArm(Strict):
    pool: str
    weight: int = Field(ge=0, le=1_000_000, description="a share relative to the other arms")


class Sticky(Strict):
    """Keep a client on the arm it first got: laneway sets a cookie naming the arm."""

    cookie: str = Field(min_length=1, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    # Signs the cookie; give every instance the same one so that any of them honours it.
    # Without it each instance makes its own at start, and clients are re-assigned after a restart.
    secret: str | None = Field(default=None, min_length=16)
    # The cookie's lifetime; without it, a session cookie (kept until the browser closes).
    max_age: Duration | None = Field(default=None, gt=0)


def _switch(value: object) -> object:
    """``true`` is ``{}`` (every default), ``false`` is ``None`` (off)."""
    return {} if value is True else None if value is False else value


class PersistenceCookie(Strict):
    """Cookie insertion (HAProxy's ``cookie NAME insert indirect nocache``): laneway sets a
    cookie naming the server, opaque and signed, and sends the client back to that server
    while it may take traffic (docs/persistence.md)."""

    name: str = Field(default="laneway_server", min_length=1, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    # Signs the cookie. Give every instance (and every worker) the same one so that any of
    # them honours it; without one each process makes its own at start and clients are
    # placed afresh after a restart. secret_env names an environment variable holding it.
    secret: str | None = Field(default=None, min_length=16)
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # The cookie's lifetime; without it, a session cookie (kept until the browser closes).
    max_age: Duration | None = Field(default=None, gt=0)
    path: str = Field(default="/", pattern=r"^/[\x21-\x3a\x3c-\x7e]*$")
    domain: str | None = Field(default=None, pattern=r"^\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
    # Sent only over HTTPS. Without a value: when the listener has tls.
    secure: bool | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> PersistenceCookie:
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give secret or secret_env, not both")
        return self


class PersistenceSource(Strict):
    """A stick table by client address (HAProxy's ``stick-table type ip size 1m expire 30m``
    with ``stick on src``)."""

    # An address not seen for this long is forgotten.
    expire: Duration = Field(default=1800.0, gt=0, description="an address not seen this long is forgotten")
    max_entries: int = Field(default=100_000, ge=1, le=10_000_000,
                             description="addresses remembered at once; the least recently seen go first")


class Persistence(Strict):
    """Session persistence: a client's requests keep going to one server (docs/persistence.md)."""

    cookie: Annotated[PersistenceCookie | None, BeforeValidator(_switch)] = None
    source: Annotated[PersistenceSource | None, BeforeValidator(_switch)] = None

    @model_validator(mode="after")
    def _one_kind(self) -> Persistence:
        if (self.cookie is None) == (self.source is None):
            raise ValueError("give exactly one of cookie (e.g. cookie: {name: laneway_server}) or "
                             "source (e.g. source: {expire: 30m})")
        return self


def parse_rate(value: object) -> float:
    """Requests per second from ``10`` or NGINX's ``10r/s`` / ``600r/m``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str) and (found := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*r/([sm])\s*", value)):
        rate = float(found.group(1)) / (60.0 if found.group(2) == "m" else 1.0)
    else:
        raise ValueError(f"a rate is requests per second or per minute, e.g. 10r/s or 600r/m, got {value!r}")
    if rate <= 0:
        raise ValueError(f"a rate must be above 0, got {value!r}")
    return rate


Rate = Annotated[float, BeforeValidator(parse_rate)]


class RateKey(Strict):
    header: str = Field(min_length=1, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class RateLimit(Strict):
    """NGINX's limit_req for one route (docs/routing.md, "Rate limits")."""

    rate: Rate
    burst: int = Field(default=0, ge=0, le=1_000_000, description="requests above the rate let through")
    nodelay: bool = False  # pass a burst at once instead of spacing it out to the rate
    delay: int = Field(default=0, ge=0, le=1_000_000, description="requests of a burst passed at once")
    # Whose requests count together: each client address (default), everything on the route,
    # or each value of a header (requests without it are not limited).
    key: Literal["client", "route"] | RateKey = "client"
    max_keys: int = Field(default=100_000, ge=1, le=10_000_000, description="keys tracked at once")


class CompressionSettings(Strict):
    """Responses compressed with brotli or gzip for clients that accept it (docs/routing.md)."""

    types: list[str] = Field(default_factory=lambda: [
        "text/html", "text/plain", "text/css", "text/csv", "text/xml", "text/javascript",
        "application/json", "application/javascript", "application/xml", "application/xhtml+xml",
        "application/rss+xml", "application/atom+xml", "application/ld+json", "application/wasm",
        "image/svg+xml"], min_length=1)
    min_length: Size = Field(default=1024, ge=0, description="smaller responses are sent as they are")
    level: int = Field(default=5, ge=1, le=9, description="gzip: 1 fastest, 9 smallest")
    # 4 compresses web text about as small as gzip's 5 in half the time, 5 some 6% smaller in
    # the same time; 11 is for files compressed once, far too slow per response.
    brotli_quality: int = Field(default=4, ge=0, le=11, description="brotli: 0 fastest, 11 smallest")

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        wrong = [kind for kind in value if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", kind.lower())]
        if wrong:
            raise ValueError(f"a media type is type/subtype without parameters, e.g. text/html, got {wrong}")
        return [kind.lower() for kind in value]


# Response headers a fixed response may not set: laneway writes the framing itself.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                             "content-type", "location", "upgrade", "trailer", "te"})


class Respond(Strict):
    """A fixed response laneway gives itself (NGINX's ``return 200 "healthy"``)."""

    status: int = Field(default=200, ge=200, le=599)
    body: str = Field(default="", max_length=1024 * 1024)
    content_type: str = Field(default="text/plain; charset=utf-8", pattern=r"^[\x20-\x7e]+$")
    headers: dict[Annotated[str, Field(pattern=f"^{HEADER_NAME.pattern}$")],
                  Annotated[str, Field(pattern=r"^[\x20-\x7e\t]*$")]] = Field(default_factory=dict)

    @field_validator("status")
    @classmethod
    def _status(cls, value: int) -> int:
        if value in (204, 304) or 300 <= value < 400:
            raise ValueError(f"status {value} cannot be a fixed response: 204 and 304 carry no body, and "
                             "a 3xx is a redirect (use redirect: {location: ..., status: 301})")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        framing = sorted(name for name in value if name.lower() in FRAMING_HEADERS)
        if framing:
            raise ValueError(f"laneway sets {', '.join(framing)} itself; remove it from headers "
                             "(content_type sets Content-Type)")
        return value


# The variables a redirect's location may use (a response is not chosen yet, nor a request id).
LOCATION_VARIABLES = ("scheme", "host", "request_uri", "path", "query")


class RedirectAction(Strict):
    """A redirect laneway gives itself (NGINX's ``return 301 https://$host$request_uri``)."""

    location: str = Field(min_length=1, pattern=r"^[\x21-\x7e]+$",
                          description="may use $scheme, $host, $request_uri, $path and $query")
    status: Literal[301, 302, 303, 307, 308] = 302

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        split_template(value, LOCATION_VARIABLES)  # names unknown variables
        return value


# Statuses a cache may store (laneway.policies.cache.freshness.STORABLE; a test keeps the two
# the same): complete answers that can be given again. 206 needs ranges, 304 a stored response.
CACHEABLE_STATUSES = (200, 203, 204, 300, 301, 302, 307, 308, 404, 405, 410, 414, 501)


class CacheStore(Strict):
    """A named in-memory cache (NGINX's proxy_cache_path with max_size), shared by the
    routes that name it (docs/caching.md)."""

    max_size: Size = Field(gt=0, description="the most bytes its entries take together")
    max_entry_size: Size = Field(default=1024 * 1024, gt=0, description="larger responses are not stored")

    @model_validator(mode="after")
    def _fits(self) -> CacheStore:
        if self.max_entry_size > self.max_size:
            raise ValueError(f"max_entry_size ({self.max_entry_size} bytes) is larger than max_size "
                             f"({self.max_size} bytes); make it smaller, e.g. max_entry_size: 1MiB")
        return self


def parse_cache_status(value: object) -> int:
    """A status whose responses may be cached, or ``any`` (0), as keys of ``cache.valid``."""
    if value == "any":
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value not in CACHEABLE_STATUSES:
        raise ValueError(f"{value!r} is not a status laneway caches; use one of "
                         f"{', '.join(map(str, CACHEABLE_STATUSES))} or any")
    return value


CacheStatus = Annotated[int, BeforeValidator(parse_cache_status),
                        PlainSerializer(lambda status: "any" if status == 0 else status)]


class RouteCache(Strict):
    """Responses of this route kept in a cache store (NGINX's proxy_cache on a location)."""

    store: str = Field(min_length=1, description="a name under caches")
    # Lifetimes by status for responses that give no freshness of their own (NGINX's
    # proxy_cache_valid): {200: 10m, 404: 1m, any: 5s}. Without one, such responses are not stored.
    valid: dict[CacheStatus, Duration] = Field(default_factory=dict)
    key_headers: list[Annotated[str, Field(pattern=f"^{HEADER_NAME.pattern}$")]] = Field(
        default_factory=list, description="request headers in the key")
    lock: bool = True  # concurrent misses for one key wait for the first (proxy_cache_lock)
    lock_timeout: Duration = Field(default=5.0, gt=0, description="then they go to a server themselves")


def _header_value(value: object) -> object:
    """Numbers are written as they read (``X-Version: 2``)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


HeaderValue = Annotated[str, BeforeValidator(_header_value)]


class HeaderEdits(Strict):
    """Headers a route changes on the way through (docs/routing.md, "Rewriting headers"), in
    the order NGINX, HAProxy and Envoy apply them: ``remove`` drops every line of a name, ``set``
    replaces every line of a name with one (or adds it), ``add`` appends a line."""

    add: dict[str, HeaderValue] = Field(default_factory=dict)
    set: dict[str, HeaderValue] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    # Headers laneway writes itself on this side, lower case: name -> why it cannot be changed.
    RESERVED: ClassVar[dict[str, str]] = {}
    VARIABLES: ClassVar[Mapping[str, str]] = REQUEST_VARIABLES

    @model_validator(mode="after")
    def _edits(self) -> HeaderEdits:
        for key, names in (("add", list(self.add)), ("set", list(self.set)), ("remove", self.remove)):
            lower = [name.lower() for name in names]
            twice = sorted({name for name in names if lower.count(name.lower()) > 1})
            if twice and key != "add":
                raise ValueError(f"{key}: {', '.join(twice)} name one header (names are compared "
                                 "without regard to case); give it once")
            for name in names:
                if not HEADER_NAME.fullmatch(name):
                    raise ValueError(f"{key}: {name!r} is not a header name (letters, digits and "
                                     "!#$%&'*+.^_`|~- only, no spaces or colons)")
                why = self.RESERVED.get(name.lower())
                if why is not None and not (key == "set" and name.lower() == "host"):
                    raise ValueError(f"{key}: {name} cannot be changed: {why}; remove it from {key}")
        for key, values in (("add", self.add), ("set", self.set)):
            for name, value in values.items():
                bad = [char for char in value if (ord(char) < 32 and char != "\t") or ord(char) == 127]
                if bad:
                    raise ValueError(f"{key}.{name}: a header value may not hold control characters "
                                     f"such as CR, LF or NUL, got {value!r}")
                if "server" in variables_in(value) and "server" not in self.VARIABLES:
                    raise ValueError(f"{key}.{name}: $server is known only in response_headers: the "
                                     "server is picked after the request's headers are written")
                try:
                    split_template(value, list(self.VARIABLES))
                except ValueError as error:
                    raise ValueError(f"{key}.{name}: {error}") from None
        return self

    @property
    def variables(self) -> frozenset[str]:
        """The variables the values use."""
        return frozenset(name for value in (*self.add.values(), *self.set.values())
                         for name in variables_in(value))


_FRAMING = ("it is framing, which laneway writes itself for each side of the proxy (as Content-Length, "
            "Transfer-Encoding and Connection)")
_HOP_BY_HOP = "it is hop-by-hop: it describes one connection and laneway never forwards it"
_BY_PROXY = "laneway sets it on every request itself"
# Headers laneway writes itself on both sides of the proxy.
_EITHER_SIDE = {
    "content-length": _FRAMING, "transfer-encoding": _FRAMING, "connection": _HOP_BY_HOP,
    "keep-alive": _HOP_BY_HOP, "te": _HOP_BY_HOP, "trailer": _HOP_BY_HOP, "upgrade": _HOP_BY_HOP,
    "proxy-connection": _HOP_BY_HOP, "proxy-authorization": _HOP_BY_HOP, "proxy-authenticate": _HOP_BY_HOP,
}


class RequestHeaders(HeaderEdits):
    RESERVED: ClassVar[dict[str, str]] = {
        **_EITHER_SIDE,
        "expect": "it decides whether the server answers 100 Continue before the body comes",
        "host": "a request has exactly one Host (RFC 9112 3.2); set it instead",
        "x-forwarded-for": _BY_PROXY, "x-real-ip": _BY_PROXY, "x-forwarded-proto": _BY_PROXY,
        "x-ssl-client-verify": _BY_PROXY, "x-ssl-client-dn": _BY_PROXY,
    }
    VARIABLES: ClassVar[Mapping[str, str]] = REQUEST_VARIABLES


class ResponseHeaders(HeaderEdits):
    RESERVED: ClassVar[dict[str, str]] = {
        **_EITHER_SIDE,
        "content-encoding": "it says how the body is encoded, and laneway's compression sets it",
    }
    VARIABLES: ClassVar[Mapping[str, str]] = RESPONSE_VARIABLES


def _path_text(value: str, what: str, *, absolute: bool = True) -> str:
    """A piece of a path as the request line carries it."""
    if absolute and not value.startswith("/"):
        raise ValueError(f"{what} must start with /, e.g. /api, got {value!r}")
    bad = sorted({char for char in value if char in "?# " or ord(char) < 33 or ord(char) > 126})
    if bad:
        raise ValueError(f"{what} may not contain spaces, control characters, non-ASCII, '?' or '#' "
                         f"(the query is kept as it is; percent-encode other bytes), got {value!r}")
    return value


class PrefixReplacement(Strict):
    prefix: str = Field(alias="from")
    to: str

    @model_validator(mode="after")
    def _paths(self) -> PrefixReplacement:
        _path_text(self.prefix, "from")
        _path_text(self.to, "to")
        return self


class RegexRewrite(Strict):
    pattern: str = Field(min_length=1)
    replacement: str

    @model_validator(mode="after")
    def _compiles(self) -> RegexRewrite:
        try:
            compiled = re.compile(self.pattern)
        except re.error as error:
            raise ValueError(f"pattern is not a valid regular expression: {error}") from None
        _path_text(self.replacement, "replacement", absolute=False)
        try:
            compiled.sub(self.replacement, "")  # checks the group references (\1, \g<name>)
        except (re.error, IndexError) as error:
            raise ValueError(f"replacement {self.replacement!r}: {error}; the pattern has "
                             f"{compiled.groups} group(s)") from None
        return self


class PathRewrite(Strict):
    """The path a route's server gets (docs/routing.md, "Rewriting paths"); give one of them."""

    strip_prefix: str | None = None
    replace_prefix: PrefixReplacement | None = None
    regex: RegexRewrite | None = None

    @model_validator(mode="after")
    def _one(self) -> PathRewrite:
        given = [name for name in ("strip_prefix", "replace_prefix", "regex")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of strip_prefix (e.g. /api), replace_prefix (e.g. "
                             "{from: /old, to: /new}) or regex ({pattern: ..., replacement: ...}), "
                             f"got {', '.join(given) or 'none'}")
        if self.strip_prefix is not None:
            _path_text(self.strip_prefix, "strip_prefix")
        return self

    @property
    def prefix(self) -> str | None:
        """The path prefix it changes, when it changes one."""
        return self.strip_prefix if self.strip_prefix is not None else \
            self.replace_prefix.prefix if self.replace_prefix is not None else None


class Route(Strict):
    match: Match = Match()
    pool: str | None = None
    split: list[SplitArm] | None = Field(default=None, min_length=1)
    sticky: Sticky | None = None
    rate_limit: RateLimit | None = None
    max_body_size: Size | None = Field(default=None, ge=0, description="larger request bodies get 413")
    compression: CompressionSettings | None = None
    respond: Respond | None = None
    redirect: RedirectAction | None = None
    persistence: Persistence | None = None
    cache: RouteCache | None = None
    request_headers: RequestHeaders | None = None
    response_headers: ResponseHeaders | None = None
    rewrite: PathRewrite | None = None

    @field_validator("compression", mode="before")
    @classmethod
    def _compression(cls, value: object) -> object:
        return {} if value is True else None if value is False else value

    @property
    def has_policies(self) -> bool:
        return (self.rate_limit is not None or self.max_body_size is not None or self.compression is not None
                or self.persistence is not None or self.cache is not None or self.edits_messages)

    @property
    def edits_messages(self) -> bool:
        """Whether the route changes requests or responses on their way through."""
        return (self.request_headers is not None or self.response_headers is not None
                or self.rewrite is not None)

    @model_validator(mode="after")
    def _action(self) -> Route:
        actions = [name for name in ("pool", "split", "respond", "redirect")
                   if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError("give exactly one of pool (e.g. pool: web), split (e.g. split: "
                             "[{pool: web-v2, weight: 10}, {pool: web, weight: 90}]), respond (e.g. "
                             "respond: {status: 200, body: healthy}) or redirect (e.g. redirect: "
                             "{location: 'https://$host$request_uri', status: 301})"
                             + (f"; this route gives {' and '.join(actions)}" if actions else ""))
        if (self.respond is not None or self.redirect is not None) and self.persistence is not None:
            raise ValueError(f"a route that laneway answers itself ({actions[0]}) sends no request to a "
                             "server, so it takes no persistence; remove it")
        if (self.respond is not None or self.redirect is not None) and self.has_policies:
            raise ValueError(f"a route that laneway answers itself ({actions[0]}) takes no rate_limit, "
                             "max_body_size, compression, cache, request_headers, response_headers or "
                             "rewrite; remove them")
        if self.split is not None:
            if not any(arm.weight > 0 for arm in self.split):
                raise ValueError("split: at least one arm needs a weight above 0")
            names = [arm.pool for arm in self.split]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"split: pool {', '.join(twice)} is named twice; give each pool one arm")
        if self.sticky is not None and self.split is None:
            raise ValueError("sticky applies to a split (it remembers the arm); a route to one pool "
                             "needs no stickiness")
        cookie = self.persistence.cookie if self.persistence is not None else None
        if cookie is not None and self.sticky is not None and cookie.name == self.sticky.cookie:
            raise ValueError(f"persistence.cookie.name and sticky.cookie are both {cookie.name!r}, but "
                             "one names the arm and the other the server; give them different names")
        matched = self.match.path_prefix
        changed = self.rewrite.prefix if self.rewrite is not None else None
        if matched is not None and changed is not None and not (
                matched.startswith(changed) or changed.startswith(matched)):
            raise ValueError(f"rewrite: the route matches paths starting {matched}, and none of them "
                             f"starts with {changed}, so the rewrite never applies; rewrite a prefix "
                             "of what the route matches")
        return self


class ClientTimeouts(Strict):
    header: Duration = Field(default=10.0, gt=0, description="to receive a whole request head")
    idle: Duration = Field(default=60.0, gt=0, description="keep-alive wait for the next request; "
                                                           "tcp: longest time with no byte either way")
    body: Duration = Field(default=60.0, gt=0, description="longest pause within a request body")
    # tcp: to receive a PROXY header and a TLS ClientHello, when they are read (5s); http
    # with tls: for the whole TLS handshake (10s). Listener.handshake_timeout applies these.
    handshake: Duration | None = Field(default=None, gt=0)


# Settings that only one kind of listener reads; giving one to the other is an error, not a no-op.
HTTP_TIMEOUTS = ("header", "body")
TCP_TIMEOUTS = ("handshake",)


class Limits(Strict):
    max_request_line: Size = Field(default=8 * 1024, ge=64)
    max_header_size: Size = Field(default=64 * 1024, ge=256)


class RedirectToHttps(Strict):
    """A plain HTTP listener that answers every request with a redirect to HTTPS (docs/tls.md).
    ``redirect_to_https: true`` is ``redirect_to_https: {}``."""

    port: int = Field(default=443, ge=1, le=65535, description="of the HTTPS listener")
    # 301 (the default) lets clients turn a POST into a GET; 308 keeps the method and body.
    status: Literal[301, 302, 307, 308] = 301


def _redirect_switch(value: object) -> object:
    return {} if value is True else None if value is False else value


class Bound(Strict):
    """Something that listens: its ``bind`` address (each subclass declares the field, with
    or without a default, where it belongs in its own order)."""

    if TYPE_CHECKING:
        bind: str

    @field_validator("bind", check_fields=False)
    @classmethod
    def _bind(cls, value: str) -> str:
        parse_address(value, what="bind")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_address(self.bind, what="bind")


class Listener(Bound):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    bind: str
    protocol: Literal["http", "tcp"] = "http"
    routes: list[Route] = Field(default_factory=list)
    # tcp: the pool every connection goes to (instead of routes by SNI).
    pool: str | None = None
    # tcp: read a PROXY protocol header (v1 or v2) from a balancer in front (docs/tcp.md).
    accept_proxy_protocol: bool = False
    # http: where a request that no route matches goes; without it, such a request gets a 404.
    default_pool: str | None = None
    timeouts: ClientTimeouts = ClientTimeouts()
    limits: Limits = Limits()
    # A header carrying each request's id (e.g. X-Request-Id): kept when the client sent
    # one, made up when not, passed to the server and written to the access log.
    request_id_header: str | None = Field(default=None, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    # http: TLS termination (docs/tls.md); or, on a plain listener, redirect_to_https to send
    # every request to HTTPS instead of routing it.
    tls: ListenerTls | None = None
    redirect_to_https: Annotated[RedirectToHttps | None, BeforeValidator(_redirect_switch)] = None

    @model_validator(mode="after")
    def _protocol_settings(self) -> Listener:
        if self.protocol == "http":
            self._check_http()
        else:
            self._check_tcp()
        return self

    def _check_http(self) -> None:
        wrong: list[str] = [name for name in ("pool", "accept_proxy_protocol")
                            if name in self.model_fields_set]
        # The handshake timeout is also the TLS handshake's on an http listener with tls.
        wrong += [f"timeouts.{name}" for name in TCP_TIMEOUTS
                  if name in self.timeouts.model_fields_set and self.tls is None]
        wrong += [f"routes[{index}].match.sni" for index, route in enumerate(self.routes)
                  if route.match.sni is not None]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} applies only to protocol tcp; set protocol: tcp, "
                             "or remove it")
        self._check_header_edits()
        if self.redirect_to_https is not None:
            if self.routes or self.default_pool is not None:
                raise ValueError("a listener with redirect_to_https answers every request itself and "
                                 "never uses routes; remove routes and default_pool")
            if self.tls is not None:
                raise ValueError("redirect_to_https belongs on a plain HTTP listener, not on one with "
                                 "tls; remove it here and give it its own listener on port 80")
        elif not self.routes and self.default_pool is None:
            raise ValueError("an http listener needs routes, e.g. routes: [{pool: web}], a default_pool, "
                             "or both; or redirect_to_https: true for one that only sends clients to HTTPS")

    def _check_header_edits(self) -> None:
        """What routes' header edits need from the listener, and may not change of it."""
        id_header = self.request_id_header
        for index, route in enumerate(self.routes):
            for key in ("request_headers", "response_headers"):
                edits: HeaderEdits | None = getattr(route, key)
                if edits is None:
                    continue
                if "request_id" in edits.variables and id_header is None:
                    raise ValueError(f"routes[{index}].{key} uses $request_id, which is the listener's "
                                     "request id: set request_id_header on the listener, e.g. "
                                     "request_id_header: X-Request-Id")
                if key == "request_headers" and id_header is not None and id_header.lower() in {
                        name.lower() for name in (*edits.add, *edits.set, *edits.remove)}:
                    raise ValueError(f"routes[{index}].request_headers changes {id_header}, the "
                                     "listener's request_id_header, which laneway keeps or makes up "
                                     "itself; remove it there")

    def _check_tcp(self) -> None:
        wrong: list[str] = [name for name in ("limits", "default_pool", "tls", "redirect_to_https")
                            if name in self.model_fields_set]
        wrong += [f"timeouts.{name}" for name in HTTP_TIMEOUTS if name in self.timeouts.model_fields_set]
        for index, route in enumerate(self.routes):
            wrong += [f"routes[{index}].match.{name}" for name in sorted(route.match.model_fields_set)
                      if name != "sni"]
            wrong += [f"routes[{index}].{name}"
                      for name in ("split", "sticky", "persistence", "rate_limit", "max_body_size",
                                   "compression", "cache", "respond", "redirect", "request_headers",
                                   "response_headers", "rewrite")
                      if name in route.model_fields_set]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} applies only to protocol http; a tcp listener reads "
                             "no HTTP: route by sni, or use an http listener")
        if (self.pool is None) == (not self.routes):
            raise ValueError("a tcp listener takes either pool: NAME (every connection goes there) or "
                             "routes by sni, e.g. routes: [{match: {sni: api.example.com}, pool: api}, "
                             "{pool: other}]; give exactly one of them")
        fallbacks = [index for index, route in enumerate(self.routes) if route.match.sni is None]
        if fallbacks and fallbacks[0] != len(self.routes) - 1:
            raise ValueError(f"routes[{fallbacks[0]}] has no sni match, so it takes every connection "
                             "and the routes after it are never used; put it last")

    @property
    def handshake_timeout(self) -> float:
        """tcp: for a PROXY header and a ClientHello (5s); http with tls: for the whole TLS
        handshake (10s, more round trips and a slow client's key exchange)."""
        if self.timeouts.handshake is not None:
            return self.timeouts.handshake
        return 5.0 if self.protocol == "tcp" else 10.0

    @property
    def pool_names(self) -> list[str]:
        """Every pool this listener sends traffic to."""
        if self.pool is not None:
            return [self.pool]
        names = []
        for route in self.routes:
            names += [route.pool] if route.pool is not None else [arm.pool for arm in route.split or []]
        return names + ([self.default_pool] if self.default_pool is not None else [])



def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) can only be reached from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class Admin(Bound):
    """The admin listener (docs/admin.md): health endpoints, the JSON API, metrics.

    A bearer token (``token``, or the environment variable ``token_env`` names, read when
    laneway starts) is required for every change, and for reads too with
    ``read_requires_token``. Without a token the listener must be on a loopback address:
    otherwise anyone who can reach it could drain every server.
    """

    bind: str = "127.0.0.1:9000"
    token: str | None = Field(default=None, min_length=16, description="the bearer token itself")
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                  description="the name of an environment variable holding the token")
    read_requires_token: bool = False
    # On SIGTERM or SIGINT, /health/ready answers 503 this long before laneway stops
    # accepting, so a load balancer in front that probes it stops sending new requests first
    # (Kubernetes: a preStop delay); then shutdown_grace lets requests under way finish.
    shutdown_delay: Duration = Field(default=0.0, ge=0, le=300)


    @model_validator(mode="after")
    def _protected(self) -> Admin:
        if self.token is not None and self.token_env is not None:
            raise ValueError("give token or token_env, not both")
        has_token = self.token is not None or self.token_env is not None
        if self.read_requires_token and not has_token:
            raise ValueError("read_requires_token needs a token: set token or token_env")
        host, _ = self.host_port
        if not has_token and not is_loopback(host):
            raise ValueError(f"bind {self.bind} is reachable from other machines, and without a token "
                             "anyone there could change the pools: set token_env (or token), or bind "
                             "to a loopback address such as 127.0.0.1:9000")
        return self


class AccessLog(Strict):
    """One line per request, written in batches (docs: README, "Access logs")."""

    path: str = Field(default="stderr", min_length=1, description="a file, or stderr")
    format: Literal["json", "combined"] = "json"


class GeoIP(Strict):
    """A MaxMind-format database (GeoLite2-Country, GeoIP2-Country or City) for match.country."""

    database: str = Field(min_length=1, description="path to the .mmdb file")

    @field_validator("database")
    @classmethod
    def _readable(cls, value: str) -> str:
        if not os.path.isfile(value) or not os.access(value, os.R_OK):
            raise ValueError(f"no readable file at {value!r} (relative paths start where laneway runs); "
                             "give the path of a MaxMind .mmdb database, e.g. GeoLite2-Country.mmdb")
        return value


MAX_WORKERS = 256


class Config(Strict):
    listeners: list[Listener] = Field(min_length=1)
    pools: dict[str, Pool] = Field(min_length=1)
    shutdown_grace: Duration = Field(default=10.0, ge=0)
    access_log: AccessLog | None = None
    geoip: GeoIP | None = None
    admin: Admin | None = None
    caches: dict[str, CacheStore] = Field(default_factory=dict)  # named stores routes cache into
    # Processes serving traffic (docs/workers.md): None means one per core laneway may run on.
    workers: int | None = None

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"must be a whole number of processes from 1 to {MAX_WORKERS}, got {value!r}; "
                             "leave workers out for one per core, or write 1 for a single process")
        return value


def reference_errors(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems that span the document, as (field path, message) pairs.

    This reads the document as parsed from YAML, before (and whatever) the schema says about
    it, so that a route to a missing pool is reported together with a bad weight elsewhere
    rather than only once the weight is fixed. Parts of the wrong shape are skipped here:
    the schema reports those.
    """
    problems: list[tuple[str, str]] = []
    pools = document.get("pools")
    pool_names = sorted(str(name) for name in pools) if isinstance(pools, dict) else None
    listeners = document.get("listeners")
    seen: dict[str, int] = {}
    for index, listener in enumerate(listeners if isinstance(listeners, list) else []):
        if not isinstance(listener, dict):
            continue
        name = listener.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append((f"listeners[{index}].name",
                                 f"{name!r} is already the name of listeners[{seen[name]}]; "
                                 "give each listener its own name"))
            seen.setdefault(name, index)
        routes = listener.get("routes")
        for route_index, route in enumerate(routes if isinstance(routes, list) else []):
            match = route.get("match") if isinstance(route, dict) else None
            if isinstance(match, dict) and "country" in match and not document.get("geoip"):
                problems.append((f"listeners[{index}].routes[{route_index}].match.country",
                                 "needs a database of addresses' countries: add geoip: "
                                 "{database: /path/to/GeoLite2-Country.mmdb} at the top of the config"))
            cache = route.get("cache") if isinstance(route, dict) else None
            if isinstance(cache, dict) and isinstance(cache.get("store"), str):
                problems.extend(_cache_store_errors(document, cache["store"],
                                                    f"listeners[{index}].routes[{route_index}].cache.store"))
        for path, pool in pools_named(listener, f"listeners[{index}]"):
            if isinstance(pool, str) and pool_names is not None and pool not in pool_names:
                problems.append((path, f"no pool is named {pool!r}; defined pools: "
                                       f"{', '.join(pool_names) or '(none)'}"))
    if isinstance(pools, dict) and isinstance(listeners, list):
        problems.extend(_pool_protocol_errors(pools, listeners))
    return problems


def _cache_store_errors(document: Mapping[str, Any], name: str, path: str) -> list[tuple[str, str]]:
    caches = document.get("caches")
    names = sorted(str(key) for key in caches) if isinstance(caches, dict) else []
    if name in names:
        return []
    if names:
        return [(path, f"no cache store is named {name!r}; defined stores: {', '.join(names)}")]
    return [(path, f"no cache store is named {name!r}; define it at the top of the config, "
                   f"e.g. caches: {{{name}: {{max_size: 64MiB}}}}")]


def pools_named(listener: Mapping[str, Any], where: str) -> list[tuple[str, object]]:
    """(field path, value) of every place a listener names a pool, as the file has them."""
    named: list[tuple[str, object]] = [(f"{where}.pool", listener.get("pool")),
                                       (f"{where}.default_pool", listener.get("default_pool"))]
    routes = listener.get("routes")
    for route_index, route in enumerate(routes if isinstance(routes, list) else []):
        if not isinstance(route, dict):
            continue
        named.append((f"{where}.routes[{route_index}].pool", route.get("pool")))
        split = route.get("split")
        for arm_index, arm in enumerate(split if isinstance(split, list) else []):
            if isinstance(arm, dict):
                named.append((f"{where}.routes[{route_index}].split[{arm_index}].pool", arm.get("pool")))
    return named


def _pool_protocol_errors(pools: Mapping[str, Any], listeners: list[Any]) -> list[tuple[str, str]]:
    """Pool settings that the kind of listener using the pool cannot honour."""
    problems = []
    users: dict[str, list[tuple[str, str]]] = {}  # pool name -> (listener name, protocol)
    for listener in listeners:
        if not isinstance(listener, dict):
            continue
        user = (str(listener.get("name")), str(listener.get("protocol", "http")))
        for _, name in pools_named(listener, ""):
            if isinstance(name, str):
                users.setdefault(name, []).append(user)
    for name, used_by in users.items():
        pool = pools.get(name)
        if not isinstance(pool, dict):
            continue
        for listener_name, protocol in used_by:
            if protocol == "http" and pool.get("proxy_protocol") is not None:
                problems.append((f"pools.{name}.proxy_protocol",
                                 f"is sent only by tcp listeners, and http listener {listener_name!r} "
                                 "uses this pool; remove it, or give that listener a pool of its own"))
                break
            if protocol == "tcp" and pool.get("tls") not in (None, False):
                problems.append((f"pools.{name}.tls",
                                 f"is spoken only by http listeners, and tcp listener {listener_name!r} "
                                 "uses this pool: a tcp listener passes bytes (TLS included) through as "
                                 "they come; remove it, or give that listener a pool of its own"))
                break
            if protocol == "tcp" and pool.get("algorithm") == "hash":
                problems.append((f"pools.{name}.algorithm",
                                 f"hash reads an HTTP request, and tcp listener {listener_name!r} uses "
                                 "this pool; use ip_hash to hash the client address"))
                break
    return problems
