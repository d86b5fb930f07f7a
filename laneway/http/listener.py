"""An HTTP listener: the socket it binds, its connections, and how it shuts down."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import socket
import ssl
from dataclasses import dataclass

from laneway.http.access_log import AccessLog
from laneway.http.client import ClientConnection
from laneway.http.deadlines import DeadlineSweeper
from laneway.http.redirect import HttpsRedirect
from laneway.http.tls_accept import TlsAcceptor
from laneway.routing import Router

log = logging.getLogger("laneway.http")


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    body_timeout: float = 60.0
    max_request_line: int = 8 * 1024
    max_header_size: int = 64 * 1024
    # The header carrying a request id (lower case), made up when a request has none.
    request_id_header: bytes | None = None
    handshake_timeout: float = 10.0


class HttpListener:
    """``ssl_context`` makes it a TLS listener (scheme ``https``): every connection first
    completes a TLS handshake within ``settings.handshake_timeout``. ``redirect`` makes it
    answer every request with a redirect to HTTPS."""

    def __init__(self, name: str, router: Router, settings: ListenerSettings, sweeper: DeadlineSweeper,
                 *, scheme: bytes | None = None, access_log: AccessLog | None = None,
                 ssl_context: ssl.SSLContext | None = None, redirect: HttpsRedirect | None = None) -> None:
        self.name = name
        self.access_log = access_log
        # Request ids: a random prefix per listener and a counter, unique without a system
        # call per request (uuid4 reads the kernel's random source each time).
        self.id_prefix = secrets.token_hex(8).encode()
        self.id_counter = itertools.count(1)
        self.router = router
        self.settings = settings
        self.sweeper = sweeper
        self.loop = sweeper.loop
        self.ssl_context = ssl_context
        self.redirect = redirect  # answer every request with this redirect, never routing it
        # Client certificates are verified (mTLS): servers are told what was presented.
        self.verifies_clients = ssl_context is not None and ssl_context.verify_mode != ssl.CERT_NONE
        self.scheme = scheme or (b"https" if ssl_context is not None else b"http")
        self.connections: set[ClientConnection] = set()
        self.server: asyncio.Server | None = None
        self.tls: TlsAcceptor | None = None

    def reconfigure(self, router: Router, settings: ListenerSettings, access_log: AccessLog | None, *,
                    ssl_context: ssl.SSLContext | None = None, redirect: HttpsRedirect | None = None) -> None:
        """A config reload: new routes and settings, for the connections already open too; a
        TLS listener's new ``ssl_context`` (certificates) is for new connections only."""
        self.router = router
        self.settings = settings
        self.access_log = access_log
        self.redirect = redirect
        if ssl_context is not None:
            self.replace_ssl_context(ssl_context)
        for connection in self.connections:
            connection.reconfigure()
            connection.locate_peer()

    def new_request_id(self) -> bytes:
        return b"%s%016x" % (self.id_prefix, next(self.id_counter))

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> tuple[str, int]:
        """Bind and start accepting; returns the bound address (port 0 picks a free one).
        ``reuse_port``: share the port with other processes' listeners (SO_REUSEPORT; the
        kernel spreads new connections over them), as laneway's workers do."""
        if self.ssl_context is not None:
            self.tls = TlsAcceptor(self, self.ssl_context)
            return self.tls.start(host, port, reuse_port=reuse_port)
        self.server = await self.loop.create_server(
            lambda: ClientConnection(self), host, port, reuse_address=True, reuse_port=reuse_port or None,
            backlog=4096)
        sock = self.server.sockets[0]
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = sock.getsockname()
            return address[0], address[1]
        return host, port

    def replace_ssl_context(self, context: ssl.SSLContext) -> None:
        """New certificates or TLS settings (for a config reload, with a context from
        ``laneway.runtime.tls.listener_context``): new connections use ``context``; those
        already open keep theirs and are not interrupted."""
        if self.tls is None:
            raise ValueError(f"listener {self.name} does not speak TLS; it cannot take an SSL context")
        self.ssl_context = context
        self.verifies_clients = context.verify_mode != ssl.CERT_NONE
        self.tls.replace_context(context)

    def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.tls is not None:
            self.tls.stop_accepting()

    async def drain(self, grace: float) -> None:
        """Let exchanges under way finish for up to ``grace`` seconds, then close the rest."""
        if self.tls is not None:
            self.tls.abort_handshakes()
        for connection in list(self.connections):
            connection.begin_shutdown()
        deadline = self.loop.time() + grace
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.connections:
            log.warning("listener %s: closing %d connection(s) still busy after %gs",
                        self.name, len(self.connections), grace)
            for connection in list(self.connections):
                connection.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()
