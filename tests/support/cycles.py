"""Objects that reference counting alone would not free: found by a garbage collection."""

from __future__ import annotations

import gc


def in_cycles(*types: type) -> list[str]:
    """Names of the objects of ``types`` that only a garbage collection frees now (call once
    before the work under test, to start from nothing)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [type(item).__name__ for item in gc.garbage if isinstance(item, types)]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
