"""docs/routing.md: every config in it is valid, and its table names every match key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from laneway.config import parse_config
from laneway.config.schema import Match
from tests.support.geoip import write_database

DOC = (Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", DOC, re.DOTALL | re.MULTILINE)


def with_pools(document: dict[str, Any]) -> dict[str, Any]:
    """The document with a one-server pool for every pool its listeners name."""
    names = set()
    for listener in document["listeners"]:
        names.add(listener.get("default_pool"))
        for route in listener.get("routes", []):
            names.add(route.get("pool"))
            names.update(arm["pool"] for arm in route.get("split", []))
    names.discard(None)
    return {**document, "pools": {name: {"servers": [{"address": f"127.0.0.1:{9000 + index}"}]}
                                  for index, name in enumerate(sorted(names))}}


def test_the_doc_has_its_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS)
def test_every_config_in_the_doc_is_valid(block: str, tmp_path: Path) -> None:
    document = with_pools(yaml.safe_load(block))
    if "geoip" in document:  # the doc names a database path that exists on a server, not here
        document["geoip"] = {"database": str(write_database(tmp_path / "countries.mmdb"))}
    parse_config(document, "docs/routing.md")


def test_the_table_names_every_match_key() -> None:
    for key in Match.model_fields:
        assert f"| `{key}` |" in DOC, key
