"""A bounded table of client key -> server, forgotten after a time without use.

HAProxy's ``stick-table type ip size 1m expire 30m``: an entry's time is refreshed each
time it is used, and an entry not used for ``expire`` seconds is gone. The table holds at
most ``max_entries``; when full, the least recently used entry makes room, so a flood of
client addresses cannot grow memory without bound.

Entries are kept in order of last use (an ``OrderedDict``, moved to the end on each use),
so the expired ones are always at the front: each store drops them from there, a few at a
time, and no timer or sweep is needed. Time is passed in by the caller (``now``), never
read here.
"""

from __future__ import annotations

from collections import OrderedDict


class StickTable:
    def __init__(self, *, expire: float, max_entries: int) -> None:
        if expire <= 0 or max_entries < 1:
            raise ValueError(f"expire must be > 0 and max_entries >= 1, got {expire} and {max_entries}")
        self.expire = expire
        self.max_entries = max_entries
        # key -> (server key, time of last use), least recently used first.
        self.entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def get(self, key: bytes, now: float) -> str | None:
        """The server remembered for ``key``, its time refreshed; ``None`` when there is none
        or it expired."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        server, used = entry
        if now - used > self.expire:
            del self.entries[key]
            return None
        self.entries[key] = (server, now)
        self.entries.move_to_end(key)
        return server

    def put(self, key: bytes, server: str, now: float) -> None:
        """Remember ``server`` for ``key`` from ``now`` on."""
        entries = self.entries
        entries[key] = (server, now)
        entries.move_to_end(key)
        # The front is the least recently used: drop what expired, then what is over the cap.
        deadline = now - self.expire
        while entries:
            _, (_, used) = next(iter(entries.items()))
            if used >= deadline:
                break
            entries.popitem(last=False)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)
