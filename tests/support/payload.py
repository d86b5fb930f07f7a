"""Generated bodies for transfer tests: deterministic, streamed, never held whole in memory.

Block ``i`` of a payload is a fixed pseudo-random 64 KiB block whose first 8 bytes are
replaced by ``i``, so a lost, repeated or reordered block changes the digest. The last block
is cut short to make the requested size.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator

BLOCK_SIZE = 64 * 1024
_BASE = random.Random(20241129).randbytes(BLOCK_SIZE)


def blocks(size: int) -> Iterator[bytes]:
    """The payload of ``size`` bytes, one block at a time (the last may be shorter)."""
    index = 0
    remaining = size
    while remaining > 0:
        block = struct.pack(">Q", index) + _BASE[8:]
        if remaining < BLOCK_SIZE:
            block = block[:remaining]
        remaining -= len(block)
        index += 1
        yield block


def digest(size: int) -> str:
    """The SHA-256 of the payload of ``size`` bytes, computed block by block."""
    hasher = hashlib.sha256()
    for block in blocks(size):
        hasher.update(block)
    return hasher.hexdigest()


class Digester:
    """Length and SHA-256 of bytes seen a piece at a time."""

    def __init__(self) -> None:
        self.size = 0
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._hasher.update(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()
