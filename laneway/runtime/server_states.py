"""The servers' shared state, passed from the supervisor to its workers.

The supervisor alone runs the active health checks and takes the operators' changes (admin
API); its pools are the truth. ``server_states`` describes them (every server of every pool:
address, weight, backup, operator state, health) and a worker's ``apply_server_states``
makes its own pools match, through the same methods the single process uses
(``Runtime.add_server`` / ``remove_server``, ``Pool.set_up`` / ``set_state`` /
``set_weight``). The whole picture is sent each time, not a list of changes, so a message
that crosses a reload, or a worker that starts late, still ends up agreeing.

Passive checks (outlier ejection, circuit breakers) are not in it: each worker judges its
own traffic (docs/workers.md).
"""

from __future__ import annotations

import logging
from typing import Any

from laneway.config import Server as ServerConfig
from laneway.runtime.server import Runtime

log = logging.getLogger("laneway")

States = dict[str, list[list[Any]]]  # pool -> [[address, weight, backup, state, up], ...]


def server_states(runtime: Runtime) -> States:
    return {name: [[server.key, server.weight, server.backup, server.state, server.up]
                   for server in pool.servers]
            for name, pool in runtime.pools.items()}


def apply_server_states(runtime: Runtime, states: States) -> None:
    """Make ``runtime``'s pools hold the servers ``states`` lists, in their states. Call on
    the loop; nothing awaits, so no request sees a half-applied picture. Pools this runtime
    does not have (a reload not yet applied) are skipped: the next message fixes them."""
    for name, rows in states.items():
        pool = runtime.pools.get(name)
        if pool is None:
            continue
        wanted = {row[0]: row for row in rows}
        for server in list(pool.servers):
            if server.key not in wanted:
                runtime.remove_server(name, server)
        for address, weight, backup, state, up in rows:
            server = pool.server(address) or runtime.add_server(
                name, ServerConfig(address=address, weight=weight, backup=backup, state=state))
            pool.set_up(server, up)
            pool.set_state(server, state)
            pool.set_weight(server, weight)
