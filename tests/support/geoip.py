"""A tiny MaxMind-format database made for a test, mapping loopback ranges to countries.

Every address of 127.0.0.0/8 is the local host on Linux, so a client that binds 127.0.1.5 as
its source address comes from "FR" while 127.0.0.1 comes from "DE".
"""

from __future__ import annotations

from pathlib import Path

import netaddr
from mmdb_writer import MMDBWriter

COUNTRIES = {"127.0.0.0/24": "DE", "127.0.1.0/24": "FR", "127.0.2.0/24": "US", "2001:db8::/32": "JP"}


def write_database(path: Path, countries: dict[str, str] = COUNTRIES) -> Path:
    """Write a GeoLite2-Country-shaped database (``{"country": {"iso_code": ...}}``) to ``path``."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    for network, code in countries.items():
        writer.insert_network(netaddr.IPSet([network]), {"country": {"iso_code": code}})
    writer.to_db_file(str(path))
    return path
