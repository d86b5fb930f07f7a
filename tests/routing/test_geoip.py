"""Country of the client address from a MaxMind-format database, and routes on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from laneway.routing import GeoIP, parse_client_address
from tests.routing.support import make_router, pool_of, request
from tests.support.geoip import write_database


@pytest.fixture
def geoip(tmp_path: Path) -> Iterator[GeoIP]:
    database = GeoIP(str(write_database(tmp_path / "countries.mmdb")))
    yield database
    database.close()


@pytest.mark.parametrize(("address", "country"), [
    ("127.0.0.1", "DE"), ("127.0.1.200", "FR"), ("::ffff:127.0.2.1", "US"), ("2001:db8::7", "JP"),
    ("127.0.3.1", None), ("::1", None), (None, None),
])
def test_countries_of_addresses(geoip: GeoIP, address: str | None, country: str | None) -> None:
    assert geoip.country(parse_client_address(address)) == country


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not.mmdb"
    path.write_bytes(b"no database here")
    with pytest.raises(ValueError, match=r"geoip database '.*not.mmdb' cannot be read as a MaxMind database"):
        GeoIP(str(path))


def test_routes_on_country_use_the_connections_country(geoip: GeoIP) -> None:
    router, _ = make_router([{"match": {"country": ["DE", "FR"]}, "pool": "a"},
                             {"match": {"country": "US", "path_prefix": "/api/"}, "pool": "b"}],
                            geoip=geoip, default_pool="web")
    assert router.needs_country and router.needs_client_address
    assert router.country_of(parse_client_address("127.0.1.9")) == "FR"
    assert pool_of(router, req=request(country="FR")) == "a"
    assert pool_of(router, "/api/x", req=request(country="US")) == "b"
    assert pool_of(router, "/x", req=request(country="US")) == "web"
    assert pool_of(router, req=request(country=None)) == "web"
