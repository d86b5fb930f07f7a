"""The chapter's promise, under load: when a server dies, users do not notice.

A smaller version of ``bench/failover.py``: clients keep sending GETs through laneway to
three servers; one server is killed (its listener closed, its connections aborted, requests
under way cut off) and later started again on the same port. With retries on, no client sees
an error; the dead server is taken out and, once back, takes traffic again."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx

from tests.support.balancer import Balancer, wait_for

CLIENTS = 6
REQUESTS_PER_CLIENT = 120


def test_killing_a_server_under_load_costs_no_request(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, pool={
        "algorithm": "round_robin",
        "health_check": {"path": "/", "interval": "100ms", "timeout": "80ms", "rise": 2, "fall": 2},
        "outlier_detection": {"consecutive_failures": 3, "ejection_time": "200ms"},
    })
    victim = running.backends[1]
    server = running.runtime.pools["p"].servers[1]
    outcomes: Counter[str] = Counter()
    sent = Counter[int]()
    lock = threading.Lock()

    def client(index: int) -> None:
        with running.client(timeout=5.0) as http:
            for n in range(REQUESTS_PER_CLIENT):
                try:
                    status = str(http.get(f"/delay?s=0.005&c={index}&n={n}").status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                with lock:
                    outcomes[status] += 1
                    sent[index] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    total = CLIENTS * REQUESTS_PER_CLIENT
    wait_for(lambda: sum(sent.values()) >= total // 4, timeout=30, message="a quarter of the load sent")
    port = victim.address[1]
    running.loop.run(victim.stop())
    wait_for(lambda: not server.takes_traffic, timeout=5, message="the dead server taken out")
    served_before = len(victim.requests)
    running.loop.run(victim.start(port))
    wait_for(lambda: server.takes_traffic, timeout=5, message="the server taken back")
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert outcomes == Counter({"200": total}), f"client-visible errors: {outcomes}"
    assert len(victim.requests) > served_before, "the restarted server takes traffic again"
