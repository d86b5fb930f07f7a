"""A failed server costs the client nothing a retry can safely save (NGINX's
proxy_next_upstream error): the request goes to another server of the pool when no server
could be reached, or when one closed without answering a request that is safe to repeat and
of which no body byte was sent. A request a server may have acted on is never sent twice."""

from __future__ import annotations

from collections.abc import Callable

from laneway.upstream import Server
from tests.support.balancer import Balancer
from tests.support.faults import closed_port


def with_unreachable_server(balancer: Callable[..., Balancer], **pool: object) -> Balancer:
    """One live backend, and first in the pool a server whose port refuses connections."""
    running = balancer(1, pool={"algorithm": "round_robin", **pool})
    runtime_pool = running.runtime.pools["p"]

    def add_unreachable() -> None:
        port = closed_port()
        runtime_pool.servers.insert(0, Server(f"127.0.0.1:{port}", "127.0.0.1", port))
        runtime_pool.refresh()

    running.call(add_unreachable)
    return running


def test_a_server_that_cannot_be_reached_costs_no_request(balancer: Callable[..., Balancer]) -> None:
    running = with_unreachable_server(balancer)
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(10)]
    assert statuses == [200] * 10


def test_without_retries_the_unreachable_server_shows(balancer: Callable[..., Balancer]) -> None:
    running = with_unreachable_server(balancer, retries=0)
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(10)]
    assert statuses.count(502) == 5 and statuses.count(200) == 5


def test_an_idempotent_request_moves_on_when_a_server_hangs_up(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"})
    hangs_up, answers = running.backends
    hangs_up.override = "/close"  # closes every connection without a word
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(6)]
    assert statuses == [200] * 6
    assert len(answers.requests) == 6


def test_a_post_is_never_sent_twice(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"})
    hangs_up, answers = running.backends
    hangs_up.override = "/close"
    with running.client() as client:
        statuses = [client.post(f"/n{n}", content=b"order #1").status_code for n in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502]
    seen = len(hangs_up.requests) + len(answers.requests)
    assert seen == 4, "each POST reached exactly one server"
