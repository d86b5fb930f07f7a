"""The control channel between the supervisor and a worker: one JSON object per line over a
socket pair the supervisor creates and the worker inherits.

It is not on the request path: a few small messages a second (stats, server state), and a
config on reload. Every message is a mapping with a ``type``:

supervisor -> worker
    ``config``   ``{generation, source, text, binds, servers, split_secret}``: run this config
                 file's text (``generation`` counts the supervisor's reloads);
                 ``binds`` gives the address each listener must bind (the port the supervisor
                 reserved when the file says port 0), ``servers`` the servers' states (as
                 below), ``split_secret`` the instance's key for sticky split cookies. The
                 first message a worker gets, and on every reload.
    ``servers``  ``{pools: {pool: [[address, weight, backup, state, up], ...]}}``: the servers
                 each pool has and what the supervisor's health checks and operators decided
                 for them; a worker adds, removes and updates its own to match.
    ``report``   ``{report}``: send your counters now (the admin API is being read).
    ``purge_cache`` ``{store}``: empty this cache store (the admin API's purge).

worker -> supervisor
    ``ready``    ``{pid}``: its listeners accept.
    ``stats``    ``{pools, caches, rate_limited, report}`` (``laneway.runtime.stats``): its counters,
                 every second
                 (``report`` 0) and in answer to a ``report`` (its number).
    ``reloaded`` ``{generation}``: it runs the config of that generation (answers a reload).
    ``reload_failed`` ``{generation, problem}``: it could not run it; it runs the previous one.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

Message = dict[str, Any]

# A config or a big pool's stats fit easily; a line longer than this is a broken peer.
LINE_LIMIT = 32 * 1024 * 1024


def encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


async def open_channel(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(sock=sock, limit=LINE_LIMIT)


async def receive(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None when the other side has gone (or sent something broken)."""
    try:
        line = await reader.readline()
    except (ValueError, ConnectionError):  # ValueError: a line past LINE_LIMIT
        return None
    if not line.endswith(b"\n"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


def send(writer: asyncio.StreamWriter, message: Message) -> None:
    """Queue ``message``; a peer that has gone is noticed by its reader, not here."""
    if not writer.is_closing():
        writer.write(encode(message))
