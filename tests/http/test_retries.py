"""A failed server costs the client nothing a retry can safely save (NGINX's
proxy_next_upstream error): the request goes to another server of the pool when no server
could be reached, or when one closed without answering a request that is safe to repeat and
of which no body byte was sent. A request a server may have acted on is never sent twice."""

from __future__ import annotations

import time
from collections.abc import Callable

from laneway.upstream import Server
from tests.support.balancer import Balancer
from tests.support.faults import DeafServer, closed_port


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


def test_a_put_whose_body_a_server_received_is_sent_again_from_what_was_kept(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"})
    hangs_up, answers = running.backends
    hangs_up.override = "/close"  # reads the whole request, then closes without answering
    body = bytes(range(256)) * 16
    with running.client() as client:
        statuses = [client.put(f"/doc{n}", content=body).status_code for n in range(4)]
    assert statuses == [200] * 4
    assert hangs_up.requests and all(bytes(r.body) == body for r in hangs_up.requests), (
        "the failing server did get the whole body")
    assert [bytes(r.body) for r in answers.requests] == [body] * 4


def test_a_body_larger_than_retry_body_limit_is_not_sent_twice(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin", "retry_body_limit": "1KiB"})
    hangs_up, answers = running.backends
    hangs_up.override = "/close"
    with running.client() as client:
        statuses = [client.put(f"/doc{n}", content=b"x" * 2048).status_code for n in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502]
    assert len(hangs_up.requests) + len(answers.requests) == 4


def test_retry_on_a_status_sends_an_idempotent_request_elsewhere(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin", "retry_on": ["connect_failure", 503]})
    unavailable, answers = running.backends
    unavailable.override = "/status?code=503"
    with running.client() as client:
        gets = [client.get(f"/n{n}") for n in range(6)]
        posts = [client.post(f"/p{n}", content=b"order").status_code for n in range(4)]
    assert [(r.status_code, r.headers["x-backend"]) for r in gets] == [(200, answers.name)] * 6
    assert sorted(posts) == [200, 200, 503, 503], "a POST the server answered is not sent again"


def test_a_status_retry_asks_the_algorithm_once(balancer: Callable[..., Balancer]) -> None:
    """Round robin over three servers, one answering 503: the other two share its retries
    evenly. Asking the algorithm twice per retry would skip a server every time."""
    running = balancer(3, pool={"algorithm": "round_robin", "retry_on": [503]})
    unavailable, second, third = running.backends
    unavailable.override = "/status?code=503"
    with running.client() as client:
        answered = [client.get(f"/n{n}").headers["x-backend"] for n in range(30)]
    assert len(unavailable.requests) == 15  # every other first try: A, C, A, C... (B takes retries)
    assert answered.count(second.name) == answered.count(third.name) == 15


def test_statuses_are_passed_on_unless_listed(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"})
    unavailable, _ = running.backends
    unavailable.override = "/status?code=503"
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(4)]
    assert sorted(statuses) == [200, 200, 503, 503]


def test_the_last_try_answers_when_every_server_gives_a_retried_status(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"retry_on": [502, 503]})
    for backend in running.backends:
        backend.override = "/status?code=503"
    response = running.get("/")
    assert response.status_code == 503
    assert response.text == "status 503", "the server's own answer, not one made by laneway"
    assert sum(len(b.requests) for b in running.backends) == 2


def test_retry_on_timeout_moves_a_get_on_from_a_server_that_does_not_answer(
        balancer: Callable[..., Balancer]) -> None:
    pool = {"algorithm": "round_robin", "timeouts": {"response": "300ms"}}
    running = balancer(2, pool={**pool, "retry_on": ["connect_failure", "timeout"]})
    slow, answers = running.backends
    slow.override = "/delay?s=5"
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(2)]
    assert statuses == [200, 200]
    assert len(answers.requests) == 2


def test_without_retry_on_timeout_a_slow_server_gets_504(balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin", "timeouts": {"response": "300ms"}})
    slow, _ = running.backends
    slow.override = "/delay?s=5"
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(2)]
    assert sorted(statuses) == [200, 504]


def test_the_total_timeout_bounds_every_try_together(balancer: Callable[..., Balancer]) -> None:
    pool = {"timeouts": {"response": "2s", "total": "400ms"}, "retry_on": ["timeout"]}
    running = balancer(3, pool=pool)
    for backend in running.backends:
        backend.override = "/delay?s=5"
    started = time.monotonic()
    response = running.get("/")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "total timeout" in response.text
    assert elapsed < 1.5, f"answered after {elapsed:.2f}s; each try alone may take 2s"


def test_the_retry_budget_stops_retries_beyond_its_share(balancer: Callable[..., Balancer]) -> None:
    running = with_unreachable_server(balancer, retry_budget={"percent": 0, "min_per_second": 0})
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502]


def test_the_retry_budget_allows_a_share_of_the_traffic(balancer: Callable[..., Balancer]) -> None:
    # Retries may be 50% of the first tries, with no floor: at least half the first tries
    # meet the unreachable server, so the budget runs out at times and some 502s get through.
    running = with_unreachable_server(balancer, retry_budget={"percent": 50, "min_per_second": 0})
    with running.client() as client:
        statuses = [client.get(f"/n{n}").status_code for n in range(40)]
    budget = running.runtime.pools["p"].retry_budget
    assert statuses.count(502) > 0
    assert 0 < budget.retries_total <= 20
    assert statuses.count(200) + statuses.count(502) == 40


def test_a_post_with_the_named_idempotency_header_may_be_sent_again(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin", "idempotency_header": "Idempotency-Key"})
    hangs_up, _ = running.backends
    hangs_up.override = "/close"
    with running.client() as client:
        marked = [client.post(f"/m{n}", content=b"order", headers={"Idempotency-Key": f"k{n}"}).status_code
                  for n in range(4)]
        plain = [client.post(f"/p{n}", content=b"order").status_code for n in range(4)]
    assert marked == [200] * 4, "the server deduplicates by the key: laneway may repeat them"
    assert sorted(plain) == [200, 200, 502, 502], "without the header a POST is still sent once"


def test_a_body_moves_on_from_a_server_that_stopped_reading_it(balancer: Callable[..., Balancer]) -> None:
    """The first server takes part of the body and then nothing: after the response timeout
    the request goes to the other with its kept body, and the client, whose reading the first
    server's full buffer had paused, is read again."""
    running = balancer(1, pool={"algorithm": "round_robin", "retry_on": ["reset", "timeout"],
                                "retry_body_limit": "16MiB", "timeouts": {"response": "0.5s"}})
    with DeafServer() as deaf:
        host, port = deaf.address.rsplit(":", 1)
        running.call(running.runtime.pools["p"].add_server, Server(deaf.address, host, int(port)))
        body = bytes(range(256)) * (6 * 4096)  # 6 MiB
        with running.client(timeout=10.0) as client:
            answers = [client.put("/digest", content=body) for _ in range(2)]  # one goes to the deaf first
    assert [a.status_code for a in answers] == [200, 200]
    assert {a.json()["size"] for a in answers} == {len(body)}
    assert [r.path for r in running.backend.requests] == ["/digest", "/digest"]
