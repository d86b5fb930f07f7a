"""A tcp listener: the socket it binds, its connections, and how it shuts down."""

from __future__ import annotations

import asyncio
import logging
import socket

from laneway.tcp.connection import TcpConnection
from laneway.tcp.routes import TcpRoutes
from laneway.tcp.splice import AVAILABLE as SPLICE_AVAILABLE

log = logging.getLogger("laneway.tcp")


class TcpListener:
    def __init__(self, name: str, routes: TcpRoutes, loop: asyncio.AbstractEventLoop, *,
                 idle_timeout: float = 60.0, handshake_timeout: float = 5.0,
                 accept_proxy_protocol: bool = False) -> None:
        self.name = name
        self.routes = routes
        self.loop = loop
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.accept_proxy_protocol = accept_proxy_protocol
        # Move bytes with os.splice where the system has it (laneway.tcp.splice).
        self.splice = SPLICE_AVAILABLE
        self.connections: set[TcpConnection] = set()
        self.server: asyncio.Server | None = None

    def reconfigure(self, new: TcpListener) -> None:
        """A config reload: connections accepted from now on follow ``new``'s routes and
        settings; those already piped keep their server (a TCP stream cannot move)."""
        self.routes = new.routes
        self.idle_timeout = new.idle_timeout
        self.handshake_timeout = new.handshake_timeout
        self.accept_proxy_protocol = new.accept_proxy_protocol

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> tuple[str, int]:
        """Bind and start accepting; returns the bound address (port 0 picks a free one).
        ``reuse_port``: share the port with other processes (SO_REUSEPORT), as workers do."""
        self.server = await self.loop.create_server(
            lambda: TcpConnection(self), host, port, reuse_address=True, reuse_port=reuse_port or None,
            backlog=4096)
        sock = self.server.sockets[0]
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = sock.getsockname()
            return address[0], address[1]
        return host, port

    def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()

    async def drain(self, grace: float) -> None:
        """Let open connections finish for up to ``grace`` seconds, then drop the rest."""
        deadline = self.loop.time() + grace
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.connections:
            log.warning("tcp listener %s: dropping %d connection(s) still open after %gs",
                        self.name, len(self.connections), grace)
            for connection in list(self.connections):
                connection.abort()
        if self.server is not None:
            await self.server.wait_closed()
