"""One client connection through a tcp listener: held, connected to a server, piped, closed.

Theory of operation:

1. **Held.** The client's bytes are kept, not sent, until a server connection exists (up to
   ``HOLD_LIMIT``; reading pauses beyond). When the listener reads a PROXY header from a
   balancer in front, or routes by the TLS server name, those are read from the held bytes
   first, within the handshake timeout; otherwise the server connection starts at once (the
   server may be the one to speak first).
2. **Connecting.** The pool's algorithm picks a server for the client's address. A refused
   or timed-out connection is counted against the server (``Pool.report``) and another
   server is tried, up to the pool's ``retries``, excluding those tried: no byte has been
   sent yet, so nothing is lost. When none is left the client's connection is closed (layer
   4 has no 503 to send) and that is logged.
3. **Piping.** The held bytes (after a PROXY header of our own, if the pool asks for one)
   go to the server, then bytes flow both ways with back-pressure: by ``os.splice`` when
   the listener may (``splice.SplicedPipe``, Linux) and nothing waits in a write buffer,
   else through the transports (``pipe.PipeEnd``).
   An EOF read on one end is passed on as a write EOF on the other (half-close), so a client
   that has shut down its sending side still gets the whole response. The connection is
   closed when both directions have ended, when either end is gone, or when no byte moved
   either way for the idle timeout (a read, or a full write buffer draining, is a move).
4. **Closed.** The server's open connections count (``in_flight``, the algorithm's
   ``on_start``/``on_end``) is given back exactly once, in ``settle``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from laneway.balancing import PickContext
from laneway.tcp.client_hello import NeedMore, read_server_name
from laneway.tcp.pipe import PAUSE_HELD, PAUSE_SPLICED, PipeEnd
from laneway.tcp.proxy_protocol import ProxyHeaderError, header_v1, header_v2, read_header
from laneway.tcp.splice import SplicedPipe
from laneway.upstream.latency import count_time

if TYPE_CHECKING:
    from laneway.tcp.listener import TcpListener
    from laneway.upstream import Pool, Server

log = logging.getLogger("laneway.tcp")

HOLD_LIMIT = 128 * 1024

Address = tuple[str, int]


def _address(info: object) -> Address | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


class ServerEnd(PipeEnd):
    """The connection to the server: what it sends goes to the client."""

    def __init__(self, client: TcpConnection) -> None:
        super().__init__()
        self.client = client
        self.peer = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.setup(transport)

    def data_received(self, data: bytes) -> None:
        client = self.client
        client.active_at = client.loop.time()
        client.transport.write(data)

    def wrote(self) -> None:
        self.client.active_at = self.client.loop.time()

    def eof_received(self) -> bool:
        self.read_done = True
        self.client.end_of_direction(self)
        return True  # keep sending to the server: the client may not have finished

    def connection_lost(self, exc: Exception | None) -> None:
        self.read_done = True
        self.client.server_lost(self)


class TcpConnection(PipeEnd):
    """The client's connection, and the state of the whole pipe."""

    def __init__(self, listener: TcpListener) -> None:
        super().__init__()
        # Global state
        self.listener = listener
        self.loop = listener.loop
        # Per-connection state
        self.client_address: Address | None = None
        self.local_address: Address | None = None
        self.held: list[bytes] = []
        self.held_size = 0
        self.inspected = bytearray()  # the held bytes, joined, while a header is to be read
        self.inspect_at = 0  # held_size at which reading it is worth trying again
        self.deciding = False  # a PROXY header or a ClientHello is still to be read
        self.proxy_header_read = not listener.accept_proxy_protocol
        self.server: Server | None = None  # set while the connection counts against it
        self.pool: Pool | None = None
        self.upstream: ServerEnd | None = None
        self.spliced: SplicedPipe | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.closed = False
        # Timeouts
        self.active_at = self.loop.time()
        self.started_at = self.active_at
        self.timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.setup(transport)
        self.listener.connections.add(self)
        self.client_address = _address(transport.get_extra_info("peername"))
        self.local_address = _address(transport.get_extra_info("sockname"))
        listener = self.listener
        if listener.accept_proxy_protocol or listener.routes.reads_server_name:
            self.deciding = True
            self.timer = self.loop.call_later(listener.handshake_timeout, self.handshake_timed_out)
        else:
            self.arm_idle_timer()
            self.dispatch(listener.routes.route(None))

    def data_received(self, data: bytes) -> None:
        self.active_at = self.loop.time()
        upstream = self.upstream
        if upstream is not None:
            upstream.transport.write(data)
            return
        self.held.append(data)
        self.held_size += len(data)
        if self.deciding:
            self.inspected += data
            if self.held_size >= self.inspect_at:
                self.decide(eof=False)
        if self.held_size >= HOLD_LIMIT and not self.closed:
            self.pause(PAUSE_HELD)

    def wrote(self) -> None:
        self.active_at = self.loop.time()

    def eof_received(self) -> bool:
        self.read_done = True
        if self.deciding:
            self.decide(eof=True)
        self.end_of_direction(self)
        return True  # keep sending to the client: the response may not have ended

    def connection_lost(self, exc: Exception | None) -> None:
        self.read_done = True
        self.close()
        # The client's end is the last to go (close() closed the server's): let go of the
        # server's end and the splice, which point back here, so that reference counting
        # frees the pipe without waiting for a garbage collection.
        self.upstream = None
        self.peer = None
        self.spliced = None

    # ------------------------------------------------------------------ before the server

    def decide(self, *, eof: bool) -> None:
        """Read a PROXY header and/or the TLS server name from the held bytes, if they are
        complete, and then pick the pool."""
        data = bytes(self.inspected)
        if not self.proxy_header_read:
            try:
                header = read_header(data)
            except ProxyHeaderError as error:
                self.refuse(f"{error}")
                return
            if header is None:
                if eof:
                    self.refuse("the connection ended inside its PROXY header")
                return
            self.proxy_header_read = True
            if header.source is not None:
                self.client_address, self.local_address = header.source, header.destination
            data = data[header.length:]
            self.held = [data] if data else []
            self.held_size = len(data)
            self.inspected = bytearray(data)
        routes = self.listener.routes
        name = None
        if routes.reads_server_name:
            hello = read_server_name(data)
            if isinstance(hello, NeedMore):
                if not eof:
                    self.inspect_at = hello.at_least
                    return
            else:
                name = hello.server_name
        self.deciding = False
        self.inspected = bytearray()
        self.cancel_timer()
        self.arm_idle_timer()
        pool = routes.route(name)
        if pool is None:
            self.refuse(f"no route for server name {name!r}" if name else
                        "no route for a connection without a TLS server name")
            return
        self.dispatch(pool)

    def handshake_timed_out(self) -> None:
        self.timer = None
        if not self.deciding or self.closed:
            return
        if not self.proxy_header_read:
            self.refuse(f"no whole PROXY header within {self.listener.handshake_timeout:g}s")
            return
        # No whole ClientHello in time (or a protocol where the server speaks first): as
        # HAProxy does when its inspect-delay ends, the route without a match decides.
        self.deciding = False
        self.inspected = bytearray()
        pool = self.listener.routes.route(None)
        if pool is None:
            self.refuse(f"no whole TLS ClientHello within {self.listener.handshake_timeout:g}s")
            return
        self.arm_idle_timer()
        self.dispatch(pool)

    def refuse(self, reason: str) -> None:
        log.warning("tcp listener %s: closing the connection from %s: %s",
                    self.listener.name, self.client_text(), reason)
        self.close()

    def dispatch(self, pool: Pool | None) -> None:
        assert pool is not None  # a listener without SNI routes has a catch-all route
        self.pool = pool
        self.connecting = self.loop.create_task(self.connect(pool))

    async def connect(self, pool: Pool) -> None:
        """Try servers in turn until one accepts (module docstring, step 2)."""
        tried: list[Server] = []
        client_ip = self.client_address[0] if self.client_address else None
        policy = pool.retry
        while True:
            server = self.pick(pool, PickContext(client_ip, None, tried))
            if server is None:
                self.refuse(f"no other server of pool {pool.name!r} to try" if tried else
                            f"every server of pool {pool.name!r} is at its limit" if pool.available else
                            f"no server of pool {pool.name!r} may take it")
                return
            self.begin(pool, server)
            began = time.monotonic()  # uvloop's clock counts whole milliseconds
            server.connecting += 1
            try:
                async with asyncio.timeout(pool.connect_timeout):
                    _, upstream = await self.loop.create_connection(
                        lambda: ServerEnd(self), server.host, server.port)
            except TimeoutError:
                detail = f"timed out connecting to server {server.key}"
            except OSError as error:
                detail = f"cannot connect to server {server.key}: {error.strerror or type(error).__name__}"
            except asyncio.CancelledError:
                self.settle(failed=False)
                raise
            else:
                took = time.monotonic() - began
                count_time(server.connect_counts, took)
                server.connect_sum += took
                pool.report(server, True)
                self.connected(upstream)
                return
            finally:
                server.connecting -= 1
            self.settle(failed=True)
            pool.report(server, False)
            tried.append(server)
            if self.closed:
                return
            if len(tried) > policy.retries or not policy.on_connect_failure or not pool.retry_allowed():
                self.refuse(f"{detail}; tried {len(tried)} server(s) of pool {pool.name!r}")
                return
            pool.retry_budget.spend()
            log.warning("tcp listener %s: %s; trying another server", self.listener.name, detail)

    @staticmethod
    def pick(pool: Pool, context: PickContext) -> Server | None:
        """The pool's pick among servers not tried and not opening as many connections as
        they may (``limits.max_connecting``); ``None`` when there is none."""
        exclude = list(context.exclude)
        while True:
            server = pool.pick(PickContext(context.client_address, None, exclude))
            if server is None or server in exclude:
                return None
            if server.connecting < server.max_connecting:
                return server
            exclude.append(server)

    def begin(self, pool: Pool, server: Server) -> None:
        self.server = server
        server.in_flight += 1
        server.requests_total += 1
        if pool.tracks_requests:
            pool.balancer.on_start(server, self.loop.time())

    def settle(self, *, failed: bool) -> None:
        """The connection no longer counts against its server (exactly once)."""
        server, pool = self.server, self.pool
        if server is None or pool is None:
            return
        self.server = None
        server.in_flight -= 1
        if failed:
            server.failures_total += 1
        if pool.tracks_requests:
            now = self.loop.time()
            pool.balancer.on_end(server, now, now - self.started_at, failed)

    def connected(self, upstream: ServerEnd) -> None:
        self.connecting = None
        if self.closed:
            upstream.transport.close()
            self.settle(failed=False)
            return
        self.upstream = upstream
        self.peer = upstream
        pool = self.pool
        assert pool is not None
        transport = upstream.transport
        if pool.proxy_protocol is not None:
            transport.write(self.proxy_header(pool.proxy_protocol, transport))
        if self.held:
            transport.writelines(self.held)
            self.held = []
            self.held_size = 0
        if self.read_done:
            self.pass_eof(transport)
        if (self.listener.splice and not transport.get_write_buffer_size()
                and not self.transport.get_write_buffer_size()):
            self.start_splice(upstream)
        self.resume(PAUSE_HELD)

    def start_splice(self, upstream: ServerEnd) -> None:
        """Hand the bytes to ``splice`` from now on (the transports stop reading for good)."""
        self.pause(PAUSE_SPLICED)
        upstream.pause(PAUSE_SPLICED)
        self.spliced = SplicedPipe(self.loop, self.transport, upstream.transport,
                                   on_move=self.moved, on_end=self.close, on_error=self.close)
        self.spliced.start(client_ended=self.read_done)

    def moved(self) -> None:
        self.active_at = self.loop.time()

    def buffered(self) -> tuple[int, int]:
        """Bytes laneway holds on their way (to the client, to the server)."""
        if self.spliced is not None:
            return self.spliced.buffered
        upstream = self.upstream
        return (self.transport.get_write_buffer_size(),
                upstream.transport.get_write_buffer_size() if upstream is not None else self.held_size)

    def proxy_header(self, version: str, transport: asyncio.Transport) -> bytes:
        source = self.client_address
        destination = self.local_address
        if source is None or destination is None:  # not an IP socket: say so, as the spec allows
            return b"PROXY UNKNOWN\r\n" if version == "v1" else header_v2(("0.0.0.0", 0), ("::", 0))
        return header_v1(source, destination) if version == "v1" else header_v2(source, destination)

    # ------------------------------------------------------------------ half-close and close

    def end_of_direction(self, end: PipeEnd) -> None:
        """``end`` read an EOF: pass it on, and close once both directions have ended."""
        other = self.upstream if end is self else self
        if other is not None and not other.transport.is_closing():
            self.pass_eof(other.transport)
        upstream = self.upstream
        if self.read_done and upstream is not None and upstream.read_done:
            self.close()

    @staticmethod
    def pass_eof(transport: asyncio.Transport) -> None:
        if transport.can_write_eof():
            transport.write_eof()  # sent once the buffered bytes have been written
        else:
            transport.close()

    def server_lost(self, upstream: ServerEnd) -> None:
        if upstream is self.upstream:
            self.close()

    def close(self) -> None:
        """Close both ends; buffered bytes are still written before each FIN."""
        if self.closed:
            return
        self.closed = True
        self.cancel_timer()
        self.listener.connections.discard(self)
        if self.spliced is not None:
            self.spliced.close()  # before the transports close the sockets it watches
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        self.transport.close()
        if self.upstream is not None:
            self.upstream.transport.close()
        self.settle(failed=False)

    def abort(self) -> None:
        """Drop both ends now (shutdown grace over, idle timeout)."""
        if self.spliced is not None:
            self.spliced.close()
        self.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()
        self.close()

    # ------------------------------------------------------------------ timers

    def arm_idle_timer(self) -> None:
        self.timer = self.loop.call_at(self.active_at + self.listener.idle_timeout, self.idle_check)

    def idle_check(self) -> None:
        # Re-armed from the last activity rather than reset on every read: one timer per
        # idle period instead of one per chunk on the hot path.
        self.timer = None
        if self.closed:
            return
        if self.loop.time() - self.active_at >= self.listener.idle_timeout:
            log.info("tcp listener %s: closing the connection from %s after %gs idle",
                     self.listener.name, self.client_text(), self.listener.idle_timeout)
            self.abort()
            return
        self.arm_idle_timer()

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def client_text(self) -> str:
        if self.client_address is None:
            return "an unknown address"
        host, port = self.client_address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
