"""A WebSocket echo server (the ``websockets`` package) that records each handshake it sees.

Every text or binary message is sent back unchanged; a message ``"push N"`` is answered by N
messages the server sends on its own (``push 0`` … ``push N-1``), to show that data flows from
the server without a client message to answer.
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class WebSocketBackend:
    def __init__(self) -> None:
        self.handshakes: list[list[tuple[str, str]]] = []
        self.messages_received = 0
        self._server: Server | None = None

    async def start(self) -> WebSocketBackend:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5.0)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "start() the backend first"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return host, port

    async def _handle(self, connection: ServerConnection) -> None:
        self.handshakes.append(list(connection.request.headers.raw_items()) if connection.request else [])
        with contextlib.suppress(ConnectionClosed):  # a client going away is no server error
            async for message in connection:
                self.messages_received += 1
                if isinstance(message, str) and message.startswith("push "):
                    for index in range(int(message.split()[1])):
                        await connection.send(f"push {index}")
                else:
                    await connection.send(message)
