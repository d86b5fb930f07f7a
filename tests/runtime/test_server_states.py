"""A worker's pools made to match the supervisor's picture of the servers."""

from __future__ import annotations

from collections.abc import Callable

from laneway.runtime.server_states import apply_server_states, server_states
from tests.support.balancer import Balancer


def address(running: Balancer, index: int) -> str:
    host, port = running.backends[index].address
    return f"{host}:{port}"


def served_by(running: Balancer, count: int = 12) -> set[str]:
    with running.client() as client:
        return {client.get(f"/n{n}").headers["x-backend"] for n in range(count)}


def test_a_worker_takes_the_supervisors_states_weights_and_servers(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={"algorithm": "round_robin"})
    first, second, third = running.backends
    # The supervisor: the second is down, the third was removed, the first weighs 3.
    states = {"p": [[address(running, 0), 3, False, "ready", True],
                    [address(running, 1), 1, False, "ready", False]]}
    running.call(apply_server_states, running.runtime, states)
    pool = running.runtime.pools["p"]
    assert [server.key for server in pool.servers] == [address(running, 0), address(running, 1)]
    assert pool.servers[0].weight == 3 and not pool.servers[1].up
    assert served_by(running) == {first.name}
    # The third is added again (through the admin API, say) and the first drained.
    states = {"p": [[address(running, 0), 3, False, "drain", True],
                    [address(running, 1), 1, False, "ready", False],
                    [address(running, 2), 2, False, "ready", True]]}
    running.call(apply_server_states, running.runtime, states)
    assert served_by(running) == {third.name}
    assert running.call(server_states, running.runtime) == states
    assert second.name not in served_by(running)


def test_pools_it_does_not_have_yet_are_left_for_the_next_message(balancer: Callable[..., Balancer]) -> None:
    running = balancer(1)
    running.call(apply_server_states, running.runtime, {"other": [["127.0.0.1:9", 1, False, "ready", True]]})
    assert list(running.runtime.pools) == ["p"]
