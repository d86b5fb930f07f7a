"""/metrics: Prometheus text format, read with prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.admin.conftest import Admin
from tests.support.faults import closed_port


def scrape(admin: Admin) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_follow_the_traffic(admin: Callable[..., Admin]) -> None:
    running = admin(2, pool={"algorithm": "round_robin", "outlier_detection": {"consecutive_failures": 1},
                             "circuit_breaker": {"failures": 100}})
    good = [f"{b.address[0]}:{b.address[1]}" for b in running.running.backends]
    dead = f"127.0.0.1:{closed_port()}"
    with running.client() as api:
        assert api.post("/api/pools/p/servers", json={"address": dead}).status_code == 201
    with running.running.client() as client:
        statuses = [client.get("/").status_code for _ in range(6)]
        statuses.append(client.get("/status?code=404").status_code)
    assert statuses == [200] * 6 + [404], "the dead server's request was retried elsewhere"

    samples = scrape(running)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    requests = {server: value("laneway_server_requests_total", pool="p", server=server) for server in good}
    assert sum(requests.values()) == 7
    assert value("laneway_server_requests_total", pool="p", server=dead) == 1
    assert value("laneway_server_failures_total", pool="p", server=dead) == 1
    assert sum(value("laneway_server_responses_total", pool="p", server=s, code="2xx") for s in good) == 6
    assert sum(value("laneway_server_responses_total", pool="p", server=s, code="4xx") for s in good) == 1
    assert value("laneway_server_responses_total", pool="p", server=dead, code="5xx") == 0
    assert value("laneway_pool_retries_total", pool="p") == 1
    assert value("laneway_server_ejections_total", pool="p", server=dead) == 1
    assert value("laneway_server_ejected", pool="p", server=dead) == 1
    assert value("laneway_server_takes_traffic", pool="p", server=dead) == 0
    assert value("laneway_pool_servers_available", pool="p") == 2
    for server in good:
        assert value("laneway_server_requests_in_flight", pool="p", server=server) == 0
        assert value("laneway_server_up", pool="p", server=server) == 1
        assert value("laneway_server_weight", pool="p", server=server) == 1
        assert value("laneway_server_breaker_state", pool="p", server=server, state="closed") == 1
        assert value("laneway_server_breaker_state", pool="p", server=server, state="open") == 0
        assert value("laneway_server_operator_state", pool="p", server=server, state="ready") == 1
        assert value("laneway_server_breaker_opened_total", pool="p", server=server) == 0
    assert value("laneway_ready") == 1
    assert value("process_resident_memory_bytes") > 0


def test_in_flight_and_operator_state_are_live(admin: Callable[..., Admin]) -> None:
    running = admin()
    backend = running.running.backend
    server = f"{backend.address[0]}:{backend.address[1]}"
    with running.client() as api:
        api.put(f"/api/pools/p/servers/{server}/state", json={"state": "drain"})
    samples = scrape(running)
    labels = (("pool", "p"), ("server", server))
    assert samples[("laneway_server_operator_state", (*labels, ("state", "drain")))] == 1
    assert samples[("laneway_server_operator_state", (*labels, ("state", "ready")))] == 0
    assert samples[("laneway_ready", ())] == 0, "no server of p may take traffic"
    assert ("laneway_pool_error_responses_total", (("code", "503"), ("pool", "p"))) not in samples
    assert running.running.get("/").status_code == 503
    samples = scrape(running)
    assert samples[("laneway_pool_error_responses_total", (("code", "503"), ("pool", "p")))] == 1
    assert running.get("/api/pools/p").json()["error_responses"] == {"503": 1}


def test_names_follow_prometheus_conventions(admin: Callable[..., Admin]) -> None:
    running = admin()
    text = running.get("/metrics").text
    families = list(text_string_to_metric_families(text))
    ours = [family for family in families if family.name.startswith("laneway_")]
    assert ours
    for family in ours:
        assert family.documentation, family.name
        if family.type == "counter":
            assert all(sample.name.endswith(("_total", "_created")) for sample in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), family.name


def test_rate_limit_refusals_and_response_bytes_are_counted(admin: Callable[..., Admin]) -> None:
    running = admin(1, routes=[{"match": {"path_prefix": "/api/"}, "pool": "p",
                                "rate_limit": {"rate": "1r/m", "nodelay": True}},
                               {"pool": "p"}])
    server = running.pool().servers[0].key
    with running.running.client() as client:
        answers = [client.get("/api/x") for _ in range(3)] + [client.get("/bytes?n=1000")]
    assert [a.status_code for a in answers] == [200, 429, 429, 200]
    samples = scrape(running)
    assert samples[("laneway_route_rate_limited_total", (("listener", "web"), ("route", "0")))] == 2
    sent = samples[("laneway_server_response_bytes_total", (("pool", "p"), ("server", server)))]
    assert 1000 + 2 * len("ok") < sent < 1000 + 2 * len("ok") + 3 * 400, "two answers' heads and bodies"
