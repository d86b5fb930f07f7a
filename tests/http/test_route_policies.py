"""Per-route policies checked before a request goes on: rate limits (NGINX's limit_req:
429 with Retry-After, bursts spaced out or passed with nodelay) and request body size (413).
A refused request never reaches a server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from laneway.config import ConfigError, parse_config
from tests.support.balancer import Balancer, make_config


def limited(balancer: Callable[..., Balancer], **route: Any) -> Balancer:
    return balancer(1, routes=[{"match": {"path_prefix": "/api/"}, "pool": "p", **route}, {"pool": "p"}])


def statuses(running: Balancer, path: str, count: int, **options: Any) -> list[int]:
    return [running.get(path, **options).status_code for _ in range(count)]


def test_beyond_rate_and_burst_gets_429_with_retry_after(balancer: Callable[..., Balancer]) -> None:
    running = limited(balancer, rate_limit={"rate": "1r/m", "burst": 2, "nodelay": True})
    answers = [running.get("/api/x") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert len(running.backend.requests) == 3, "refused requests never reached the server"
    assert statuses(running, "/other", 3) == [200] * 3, "other routes are not limited"


def test_without_nodelay_a_burst_is_spaced_out_to_the_rate(balancer: Callable[..., Balancer]) -> None:
    running = limited(balancer, rate_limit={"rate": "10r/s", "burst": 3})
    started = time.monotonic()
    with running.client() as client:
        codes = [client.get(f"/api/{n}").status_code for n in range(4)]
    elapsed = time.monotonic() - started
    assert codes == [200] * 4
    assert elapsed >= 0.25, f"the 2nd-4th requests wait 0.1s each, took {elapsed:.3f}s"


def test_limits_are_per_client_header_when_asked(balancer: Callable[..., Balancer]) -> None:
    running = limited(balancer, rate_limit={"rate": "1r/m", "key": {"header": "X-Api-Key"}, "nodelay": True})
    assert statuses(running, "/api/a", 2, headers={"X-Api-Key": "alice"}) == [200, 429]
    assert statuses(running, "/api/b", 1, headers={"X-Api-Key": "bob"}) == [200]
    assert statuses(running, "/api/c", 3) == [200] * 3, "no key, not counted"


def get_from(running: Balancer, source: str, path: str) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=running.url, transport=transport, trust_env=False) as client:
        return client.get(path).status_code


@pytest.mark.parametrize(("key", "second_client"), [("client", 200), ("route", 429)])
def test_key_client_counts_each_address_and_route_counts_all_together(
        balancer: Callable[..., Balancer], key: str, second_client: int) -> None:
    running = limited(balancer, rate_limit={"rate": "1r/m", "key": key})
    assert get_from(running, "127.0.0.1", "/api/a") == 200
    assert get_from(running, "127.0.0.2", "/api/a") == second_client
    assert get_from(running, "127.0.0.1", "/api/a") == 429


def test_max_body_size_answers_413_and_sends_nothing(balancer: Callable[..., Balancer]) -> None:
    running = limited(balancer, max_body_size="1KiB")
    assert running.get("/api/x").status_code == 200
    assert httpx.post(f"{running.url}/api/x", content=b"a" * 1024, trust_env=False).status_code == 200
    assert httpx.post(f"{running.url}/api/x", content=b"a" * 1025, trust_env=False).status_code == 413
    chunked = (bytes([97]) * 600 for _ in range(2))  # a generator: sent chunked, no length
    response = httpx.post(f"{running.url}/api/x", content=chunked, trust_env=False)
    assert response.status_code == 413
    assert httpx.post(f"{running.url}/other", content=b"a" * 5000, trust_env=False).status_code == 200
    bodies = [r.body_size for r in running.backend.requests if r.method == "POST"]
    assert 1025 not in bodies and 5000 in bodies


@pytest.mark.parametrize(("limit", "words"), [
    ({"rate": "ten"}, "e.g. 10r/s or 600r/m"),
    ({"rate": 0}, "above 0"),
    ({"rate": "5r/s", "burst": -1}, "must be >= 0"),
    ({"rate": "5r/s", "key": "everyone"}, "key"),
])
def test_bad_rate_limits_name_the_field(limit: dict[str, Any], words: str) -> None:
    document = make_config(["127.0.0.1:9001"], routes=[{"pool": "p", "rate_limit": limit}])
    with pytest.raises(ConfigError) as error:
        parse_config(document, "site.yaml")
    assert any(line.startswith("site.yaml: listeners[0].routes[0].rate_limit") and words in line
               for line in error.value.problems), error.value.problems


def test_rate_per_minute_is_read_as_per_second() -> None:
    document = make_config(["127.0.0.1:9001"], routes=[{"pool": "p", "rate_limit": {"rate": "600r/m"}}])
    limit = parse_config(document).listeners[0].routes[0].rate_limit
    assert limit is not None and limit.rate == 10.0
