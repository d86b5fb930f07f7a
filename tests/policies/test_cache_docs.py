"""docs/caching.md and the README's caching example: every config in them is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from laneway.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = [block for name in ("docs/caching.md", "README.md")
          for block in re.findall(r"^```yaml\n(.*?)^```", (ROOT / name).read_text(encoding="utf-8"),
                                  re.DOTALL | re.MULTILINE)
          if "caches:" in block]


def test_the_docs_have_their_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS)
def test_every_cache_config_in_the_docs_is_valid(block: str) -> None:
    document = yaml.safe_load(block)
    document["pools"] = {"web": {"servers": [{"address": "127.0.0.1:9000"}]}}
    config = parse_config(document, "docs/caching.md")
    assert config.caches["pages"].max_size == 64 * 1024 * 1024
    assert any(route.cache is not None for route in config.listeners[0].routes)
