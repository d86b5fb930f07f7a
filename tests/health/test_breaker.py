"""Circuit breakers: closed, open after failures in a row, half-open with a few trial
requests at a time, closed again only when the trials go well."""

from __future__ import annotations

from collections.abc import Callable

from laneway.balancing import NO_CONTEXT, create
from laneway.health import CircuitBreakers
from laneway.upstream import CLOSED, HALF_OPEN, OPEN, Pool, Server
from tests.support.balancer import Balancer, wait_for
from tests.support.fake_time import FakeTime


def breakers(failures: int = 3, trials: int = 2) -> tuple[Pool, Server, FakeTime, CircuitBreakers]:
    time = FakeTime()
    servers = [Server(f"10.0.0.{n}:80", f"10.0.0.{n}", 80) for n in (1, 2)]
    pool = Pool("api", servers, create("round_robin"), clock=lambda: time.now)
    found = CircuitBreakers(pool, failures=failures, open_for=30.0, trial_requests=trials,
                            call_later=time.call_later)
    return pool, servers[0], time, found


def fail(pool: Pool, server: Server, times: int) -> None:
    for _ in range(times):
        pool.report(server, False)


def test_opens_after_failures_in_a_row_only() -> None:
    pool, server, _, _ = breakers(failures=3)
    fail(pool, server, 2)
    pool.report(server, True)  # a success resets the count
    fail(pool, server, 2)
    assert server.breaker == CLOSED and server in pool.available
    fail(pool, server, 1)
    assert server.breaker == OPEN and server not in pool.available


def test_half_opens_after_open_for_and_admits_only_the_trial_requests() -> None:
    pool, server, time, _ = breakers(failures=1, trials=2)
    other = pool.servers[1]
    fail(pool, server, 1)
    time.advance(29.9)
    assert server.breaker == OPEN
    time.advance(0.2)
    assert server.breaker == HALF_OPEN and server in pool.available
    server.in_flight = 2  # both trials under way
    picks = {pool.pick(NO_CONTEXT) for _ in range(10)}
    assert picks == {other}, "a half-open server at its trial count is passed over"
    server.in_flight = 1
    assert server in {pool.pick(NO_CONTEXT) for _ in range(4)}


def test_good_trials_close_it() -> None:
    pool, server, time, _ = breakers(failures=1, trials=2)
    fail(pool, server, 1)
    time.advance(30)
    pool.report(server, True)
    assert server.breaker == HALF_OPEN
    pool.report(server, True)
    assert server.breaker == CLOSED
    server.in_flight = 50
    assert server in {pool.pick(NO_CONTEXT) for _ in range(4)}, "no trial cap once closed"


def test_one_failed_trial_opens_it_again() -> None:
    pool, server, time, found = breakers(failures=3, trials=2)
    fail(pool, server, 3)
    time.advance(30)
    pool.report(server, True)
    pool.report(server, False)
    assert server.breaker == OPEN
    assert found.opened_total[server.key] == 2
    time.advance(30)
    assert server.breaker == HALF_OPEN


def test_outcomes_while_open_are_ignored() -> None:
    pool, server, time, _ = breakers(failures=1, trials=1)
    fail(pool, server, 1)
    pool.report(server, True)  # a request that began before the breaker opened
    assert server.breaker == OPEN
    time.advance(30)
    assert server.breaker == HALF_OPEN


def test_a_failing_server_is_cut_off_then_tried_then_taken_back(balancer: Callable[..., Balancer]) -> None:
    breaker = {"failures": 2, "open_for": "300ms", "half_open_requests": 1}
    running = balancer(2, pool={"algorithm": "round_robin", "circuit_breaker": breaker, "retries": 0})
    failing, _ = running.backends
    failing.override = "/status?code=503"
    pool = running.runtime.pools["p"]
    server = pool.servers[0]
    with running.client() as client:
        statuses = [client.get(f"/a{n}").status_code for n in range(4)]
        assert sorted(statuses) == [200, 200, 503, 503]
        assert server.breaker == OPEN
        before = len(failing.requests)
        assert [client.get(f"/b{n}").status_code for n in range(6)] == [200] * 6
        assert len(failing.requests) == before, "an open breaker sends nothing"
        failing.override = None
        wait_for(lambda: server.breaker == HALF_OPEN, message="half-open after open_for")
        for n in range(4):
            client.get(f"/c{n}")
        wait_for(lambda: server.breaker == CLOSED, message="closed after a good trial")
        assert len(failing.requests) > before
