"""Routes on the client's country through a running laneway, with a database the test makes:
clients connect from different loopback addresses (127.0.0.1 is DE, 127.0.1.5 FR)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.balancer import Balancer
from tests.support.geoip import write_database

POOLS = ["p", "eu", "us"]


def answered_from(running: Balancer, source: str) -> str:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=running.url, transport=transport, trust_env=False, timeout=10.0) as client:
        response = client.get("/", headers={"Host": "www.example"})
    assert response.status_code == 200, response.text
    return POOLS[int(response.headers["x-backend"].removeprefix("backend"))]


def test_the_clients_country_picks_the_regional_pool(balancer: Callable[..., Balancer],
                                                      tmp_path: Path) -> None:
    database = write_database(tmp_path / "countries.mmdb")
    running = balancer(3, pools_of_backends={name: [index] for index, name in enumerate(POOLS)},
                       routes=[{"match": {"country": ["DE", "FR"]}, "pool": "eu"},
                               {"match": {"country": "US"}, "pool": "us"}],
                       listener={"default_pool": "p"}, top={"geoip": {"database": str(database)}})
    assert answered_from(running, "127.0.0.1") == "eu"
    assert answered_from(running, "127.0.1.5") == "eu"
    assert answered_from(running, "127.0.2.9") == "us"
    assert answered_from(running, "127.0.3.1") == "p", "not in the database: the default pool"
