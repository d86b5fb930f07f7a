"""One request and its response, from the first byte of the request to the last of the answer.

The client connection creates an exchange when a request head has been parsed and checked;
the upstream connection that carries it fills in the response side. Request body bytes wait
in ``pending`` until the exchange has an upstream connection (and, for pipelined requests,
until the requests before it are answered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from laneway.balancing import PickContext
    from laneway.http.client import ClientConnection
    from laneway.http.upstream import UpstreamConnection
    from laneway.policies.cache import Fill
    from laneway.policies.compression import Compression
    from laneway.policies.edits import ResponseEdit
    from laneway.policies.persistence import Stick
    from laneway.upstream import Pool, Server


NO_DEADLINE: Final = float("inf")

# method, target, host, client address, request id, Referer, User-Agent, and the time it
# began by time.monotonic() (the loop's clock counts whole milliseconds under uvloop)
LogFacts = tuple[str, str, str, str, str | None, str | None, str | None, float]

# Why a request would be sent to another server (laneway.upstream.RetryPolicy).
CONNECT_FAILURE: Final = 0
RESET: Final = 1
TIMEOUT: Final = 2
STATUS: Final = 3


class Exchange:
    __slots__ = (
        "body_room",
        "body_sent",
        "bytes_out",
        "cache_status",
        "chunked",
        "client",
        "client_keep_alive",
        "coding",
        "compress",
        "context",
        "deadline_at",
        "fill",
        "head",
        "head_at",
        "head_sent",
        "http11",
        "idempotent",
        "is_head",
        "keep_room",
        "kept",
        "local",
        "log_facts",
        "not_before",
        "pending",
        "pending_size",
        "pool",
        "request_complete",
        "response_complete",
        "response_edit",
        "response_extra",
        "response_started",
        "served_by",
        "server",
        "started_at",
        "status",
        "stick",
        "tried",
        "upgrade",
        "upstream",
    )

    def __init__(self, client: ClientConnection, pool: Pool | None, head: bytes, *, http11: bool,
                 keep_alive: bool, chunked: bool, is_head: bool, upgrade: bool, started_at: float) -> None:
        self.client = client
        self.pool = pool  # None when laneway answers itself (``local``)
        self.head = head  # the request head as it goes to the server
        self.http11 = http11
        self.client_keep_alive = keep_alive
        self.chunked = chunked
        self.is_head = is_head
        self.upgrade = upgrade
        self.started_at = started_at
        self.context: PickContext | None = None  # set when the pool hashes on part of the request
        # Request side.
        self.pending: list[bytes] = [head]
        self.pending_size = len(head)
        self.request_complete = False
        self.idempotent = False  # safe to send again (RFC 9110 9.2.2)
        self.tried: list[Server] = []  # servers that failed this request, for retries
        # Body bytes kept so that a retry can send them again, while they fit in ``keep_room``
        # more bytes; ``keep_room`` < 0: not kept (too large, or the request is not retried).
        self.kept: list[bytes] = []
        self.keep_room = -1
        self.deadline_at = NO_DEADLINE  # the pool's total timeout, as a loop time
        # The route's policies: body bytes still allowed (< 0: no limit), and the loop time
        # before which a rate-limited request is held.
        self.body_room = -1
        self.not_before = 0.0
        self.compress: Compression | None = None  # the route's compression settings
        self.coding = b""  # what the client accepts: b"br", b"gzip", or b"" for neither
        self.stick: Stick | None = None  # the route's session persistence, when it has one
        # On a route with a cache: the request's key, and the response on its way into the store.
        self.fill: Fill | None = None
        self.cache_status: str | None = None  # HIT, MISS or BYPASS, for the access log
        self.head_sent = False
        self.body_sent = False  # a byte of the body reached a server: the request cannot be replayed
        # Response side.
        self.server: Server | None = None
        self.upstream: UpstreamConnection | None = None
        self.response_started = False
        self.status = 0  # the server's final status, once its head has come
        self.response_complete = False
        # For the access log: what the request was (None when there is no log), which
        # server answered, when its response head came, bytes written to the client.
        self.log_facts: LogFacts | None = None
        self.served_by: str | None = None
        self.head_at = 0.0
        self.bytes_out = 0
        # A complete response laneway makes itself (a fixed response, a redirect, a 404 or
        # 429), written in the exchange's turn; no server is asked.
        self.local: bytes | None = None
        # Header lines laneway adds to the response head, each led by CRLF (a split's
        # sticky Set-Cookie); empty for most requests.
        self.response_extra = b""
        self.response_edit: ResponseEdit | None = None  # the route's response header edits

    def send(self, data: bytes) -> None:
        """Queue request bytes for the server (flushed by the client connection)."""
        self.pending.append(data)
        self.pending_size += len(data)
        if self.keep_room >= 0:
            self.keep_room -= len(data)
            if self.keep_room >= 0:
                self.kept.append(data)
            else:
                self.kept.clear()

    @property
    def replayable(self) -> bool:
        """Whether the whole request can be sent again: its head, and any body bytes kept."""
        return not self.body_sent or self.keep_room >= 0
