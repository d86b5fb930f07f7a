"""Countries of client addresses, from a MaxMind-format database (``maxminddb``).

The database is opened once (memory-mapped, by maxminddb's C extension when it is built)
and looked up once per client connection, and only on listeners with a route that matches
on ``country``. The country is the record's ``country.iso_code``, as GeoLite2-Country,
GeoIP2-Country and GeoIP2-City have it (NGINX's ``geoip2 ... country iso_code``).
"""

from __future__ import annotations

import maxminddb

from laneway.routing.request import Address


class GeoIP:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.reader = maxminddb.open_database(path)
        except (OSError, maxminddb.InvalidDatabaseError) as error:
            raise ValueError(f"geoip database {path!r} cannot be read as a MaxMind database: "
                             f"{error}") from None

    def country(self, address: Address | None) -> str | None:
        """The ISO 3166-1 code of ``address``'s country, or None if the database has none."""
        if address is None:
            return None
        try:
            record = self.reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        if not isinstance(record, dict):
            return None
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else None
        return code if isinstance(code, str) else None

    def close(self) -> None:
        self.reader.close()
