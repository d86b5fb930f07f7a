"""docs/persistence.md: every config in it is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from laneway.config import parse_config
from tests.routing.test_docs import with_pools

DOC = (Path(__file__).resolve().parents[2] / "docs" / "persistence.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", DOC, re.DOTALL | re.MULTILINE)


def test_the_doc_has_its_examples() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("block", BLOCKS)
def test_every_config_in_the_doc_is_valid(block: str) -> None:
    config = parse_config(with_pools(yaml.safe_load(block)), "docs/persistence.md")
    assert any(route.persistence is not None for route in config.listeners[0].routes)
