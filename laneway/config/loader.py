"""Reading a config file and turning every problem into one clear line.

A line names the file, the field path (``pools.api.servers[2].weight``), what is wrong with
the value given, and what is expected, e.g.::

    laneway.yaml: pools.api.servers[2].weight: must be >= 1, got 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from laneway.config.schema import Config, reference_errors


class ConfigError(Exception):
    """The config cannot be used; ``problems`` holds one line for each thing that is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the YAML file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, [f"{source}: cannot read the file: {error.strerror or error}"]) from None
    return parse_config_text(text, source)


def parse_config_text(text: str, source: str = "<config>") -> Config:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(source, [f"{source}: {where}not valid YAML: {problem}"]) from None
    return parse_config(document, source)


def parse_config(document: object, source: str = "<config>") -> Config:
    """Validate an already parsed document (a dict, as YAML or JSON gives it)."""
    if document is None:
        raise ConfigError(source, [f"{source}: the file is empty; it needs at least listeners and pools"])
    if not isinstance(document, dict):
        raise ConfigError(source, [f"{source}: expected a mapping with listeners and pools at the top, "
                                   f"got {type(document).__name__}"])
    try:
        config = Config.model_validate(document)
    except ValidationError as error:
        raise ConfigError(source, [f"{source}: {line}" for line in _describe(error)]) from None
    problems = reference_errors(config)
    if problems:
        raise ConfigError(source, [f"{source}: {path}: {message}" for path, message in problems])
    return config


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("pools", "api", "servers", 2, "weight")`` -> ``pools.api.servers[2].weight``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        lines.append(f"{field_path(loc)}: {_message(item)}")
    return lines


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the validator's name in loc for function-wrapped and literal types.
    return isinstance(part, str) and (part.startswith("function-") or part.startswith("literal["))


def _message(item: Any) -> str:
    kind = item["type"]
    value = item.get("input")
    ctx = item.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "missing":
        return "required but missing"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "literal_error":
        return f"got {value!r}; expected one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{item['msg'].lower()}, got {value!r}"
    if kind in ("too_short",) and isinstance(value, list | dict):
        return "must not be empty"
    return f"{item['msg'][0].lower()}{item['msg'][1:]}, got {value!r}"
