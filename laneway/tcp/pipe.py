"""One end of a byte pipe and the flow control between the two ends.

Each end is an asyncio Protocol (not a stream: no extra buffer, no task per direction).
Bytes read on one end are written to the other end's transport at once. When a transport's
write buffer passes its high-water mark, asyncio calls ``pause_writing`` on its protocol:
the *other* end then stops reading until ``resume_writing`` says the buffer drained below
the low-water mark. So each direction holds at most about ``HIGH_WATER`` bytes plus one
read, however slow the reader at the far end.

Reading may be paused for more than one reason at once (the far end is full; the bytes are
held until a server is connected); ``pause``/``resume`` keep the reasons as bits so that
the transport is resumed only when none is left, and each call stays idempotent.
"""

from __future__ import annotations

import asyncio
from typing import cast

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024

PAUSE_PEER_FULL = 1  # the other end's write buffer is past its high-water mark
PAUSE_HELD = 2  # bytes are held until a server is connected, and enough are held
PAUSE_SPLICED = 4  # bytes move by splice (laneway.tcp.splice), not through the transport


class PipeEnd(asyncio.Protocol):
    """Flow control shared by the client's end and the server's end of a pipe."""

    transport: asyncio.Transport
    peer: PipeEnd | None

    def __init__(self) -> None:
        self.peer = None
        self.paused = 0  # PAUSE_* bits
        self.read_done = False  # EOF (or the connection's end) was read on this end

    def setup(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    def pause(self, reason: int) -> None:
        if not self.paused and not self.transport.is_closing():
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not self.transport.is_closing():
                self.transport.resume_reading()

    # asyncio calls these about *this* end's write buffer: the other end reads or waits.

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause(PAUSE_PEER_FULL)

    def resume_writing(self) -> None:
        self.wrote()
        if self.peer is not None:
            self.peer.resume(PAUSE_PEER_FULL)

    def wrote(self) -> None:
        """The write buffer drained: bytes are moving, even if nothing was read lately."""
