"""Real TCP backends and a laneway runtime with a tcp listener, for the layer 4 tests.

A ``TcpBackend`` records every connection's bytes (``Peer.received``) and behaves as told:

* ``echo``: sends back every byte it reads; at EOF it shuts down its own sending side.
* ``reply_after_eof``: reads until the client's EOF, then sends ``reply_size`` bytes and closes.
* ``source``: sends ``source_size`` bytes of ``pattern`` at once (counting them in
  ``Peer.sent``), reading and recording what comes meanwhile; closes at the end.
* ``hold``: reads and records, sends nothing, until the client closes.
* ``stall``: accepts and never reads (to fill laneway's buffers towards it).
* ``close``: closes right after the greeting.

Each connection first gets ``greeting`` (default: the backend's name and a newline) unless
it is ``None``, so a test can tell which server a connection reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from laneway.config import parse_config
from laneway.runtime.server import Runtime
from laneway.tcp import TcpListener
from tests.support.loop_thread import LoopThread

READ_SIZE = 64 * 1024


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that differ along the way, so a reordered or lost chunk shows."""
    block = b"".join(hashlib.sha256(b"%d-%d" % (seed, i)).digest() for i in range(2048))  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@dataclass
class Peer:
    received: bytearray = field(default_factory=bytearray)
    sent: int = 0
    eof: bool = False  # the client's EOF arrived
    closed: bool = False


class TcpBackend:
    def __init__(self, name: str, behaviour: str = "echo", *, greeting: bytes | None = b"",
                 reply_size: int = 0, source_size: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.behaviour = behaviour
        self.greeting = f"{name}\n".encode() if greeting == b"" else greeting
        self.reply_size = reply_size
        self.source_size = source_size
        self.peers: list[Peer] = []
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.tls = tls  # speak TLS with this server context (the greeting follows the handshake)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", port, reuse_address=True,
                                                 ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer()
        self.peers.append(peer)
        self.writers.add(writer)
        try:
            if self.greeting:
                writer.write(self.greeting)
            await getattr(self, f"_{self.behaviour}")(reader, writer, peer)
        except (ConnectionError, OSError):
            pass
        finally:
            peer.closed = True
            self.writers.discard(writer)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, peer: Peer) -> bytes:
        data = await reader.read(READ_SIZE)
        peer.received += data
        peer.eof = not data
        return data

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        while data := await self._read(reader, peer):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()

    async def _reply_after_eof(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               peer: Peer) -> None:
        while await self._read(reader, peer):
            pass
        writer.write(pattern(self.reply_size, seed=1))
        await writer.drain()

    async def _source(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        async def record() -> None:
            while await self._read(reader, peer):
                pass

        recording = asyncio.create_task(record())
        data = memoryview(pattern(self.source_size, seed=2))
        for start in range(0, len(data), READ_SIZE):
            chunk = data[start:start + READ_SIZE]
            writer.write(chunk)
            await writer.drain()
            peer.sent += len(chunk)
        recording.cancel()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        while await self._read(reader, peer):
            pass

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await writer.drain()

    async def _stall(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await asyncio.Event().wait()


@dataclass
class TcpBalancer:
    loop: LoopThread
    runtime: Runtime
    address: tuple[str, int]
    stopped: bool = False

    @property
    def listener(self) -> TcpListener:
        listener = self.runtime.listeners[0]
        assert isinstance(listener, TcpListener)
        return listener

    def connect(self, timeout: float = 5.0) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def call(self, function: Any, *args: Any) -> Any:
        return self.loop.call(function, *args)


def tcp_config(pools: dict[str, list[str]], *, listener: dict[str, Any] | None = None,
               pool: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """Listener ``edge`` (tcp, 127.0.0.1:0) sending every connection to the first pool; ``pool``
    is merged into every pool, ``listener`` into the listener (``routes`` there replace ``pool``)."""
    listener_document: dict[str, Any] = {"name": "edge", "bind": "127.0.0.1:0", "protocol": "tcp",
                                         **(listener or {})}
    if "routes" not in listener_document:
        listener_document["pool"] = next(iter(pools))
    return {"listeners": [listener_document],
            "pools": {name: {"servers": [{"address": a} for a in addresses], **(pool or {})}
                      for name, addresses in pools.items()},
            **top}


def start_tcp_balancer(loop: LoopThread, document: dict[str, Any]) -> TcpBalancer:
    runtime = Runtime(parse_config(document))
    loop.run(runtime.start())
    return TcpBalancer(loop, runtime, runtime.listener_addresses["edge"])


def read_line(sock: socket.socket) -> bytes:
    """Bytes up to and including the first newline (a backend's greeting)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"connection closed after {bytes(line)!r}")
        line += chunk
    return bytes(line)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1024 * 1024))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything until the other side's EOF (a reset counts as the end)."""
    data = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1024 * 1024):
            data += chunk
    return bytes(data)


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Whether the other side closes (EOF or reset) within ``timeout``, reading nothing else."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@contextlib.contextmanager
def backends(loop: LoopThread, *made: TcpBackend) -> Iterator[list[TcpBackend]]:
    for backend in made:
        loop.run(backend.start())
    try:
        yield list(made)
    finally:
        for backend in made:
            loop.run(backend.stop())
