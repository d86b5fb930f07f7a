"""Response times per server: real requests to backends that wait land in the histogram
bucket of their duration, in /metrics and as percentiles in the API's server objects."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.admin.conftest import Admin
from tests.admin.test_metrics import scrape


def test_slow_responses_land_in_their_buckets(admin: Callable[..., Admin]) -> None:
    running = admin(1)
    server = running.pool().servers[0].key
    with running.running.client() as client:
        # 0.06s: in (0.05, 0.1] whatever the overhead up to 40ms; 0.3s: in (0.25, 0.5].
        for target in ["/delay?s=0.06"] * 4 + ["/delay?s=0.3"]:
            assert client.get(target).status_code == 200

    samples = scrape(running)

    def bucket(le: str) -> float:
        return samples[("laneway_response_duration_seconds_bucket", (("le", le), ("pool", "p"),
                                                                     ("server", server)))]

    assert bucket("0.05") == 0
    assert bucket("0.1") == 4
    assert bucket("0.25") == 4
    assert bucket("0.5") == bucket("+Inf") == 5
    labels = (("pool", "p"), ("server", server))
    assert samples[("laneway_response_duration_seconds_count", labels)] == 5
    assert 0.54 <= samples[("laneway_response_duration_seconds_sum", labels)] < 0.54 + 5 * 0.04

    latency = running.get(f"/api/pools/p/servers/{server}").json()["latency"]
    assert latency["count"] == 5
    assert 0.05 < latency["p50"] <= 0.1
    assert latency["p90"] == pytest.approx(0.375)  # rank 4.5 of 5: halfway through the (0.25, 0.5] bucket
    assert 0.25 < latency["p99"] <= 0.5


def test_no_latency_before_the_first_response(admin: Callable[..., Admin]) -> None:
    running = admin(1)
    latency = running.get("/api/servers").json()[0]["latency"]
    assert latency == {"count": 0, "p50": None, "p90": None, "p99": None}


def test_connect_times_count_each_new_server_connection(admin: Callable[..., Admin]) -> None:
    """Kept-alive requests reuse one connection: one connect time, however many requests."""
    running = admin(1)
    server = running.pool().servers[0].key
    with running.running.client() as client:
        for _ in range(4):
            assert client.get("/").status_code == 200
    labels = (("pool", "p"), ("server", server))
    samples = scrape(running)
    assert samples[("laneway_connect_duration_seconds_count", labels)] == 1
    assert 0 < samples[("laneway_connect_duration_seconds_sum", labels)] < 1.0
    connect = running.get(f"/api/pools/p/servers/{server}").json()["connect"]
    assert connect["count"] == 1 and 0 < connect["p50"] <= 0.005
