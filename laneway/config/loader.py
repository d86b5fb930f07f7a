"""Reading a config file and turning every problem into one clear line.

A line names the file, the field path (``pools.api.servers[2].weight``), what is wrong with
the value given, and what is expected, e.g.::

    laneway.yaml: pools.api.servers[2].weight: must be >= 1, got 0
"""

from __future__ import annotations

import difflib
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from laneway.config.schema import Config, reference_errors


class ConfigError(Exception):
    """The config cannot be used; ``problems`` holds one line for each thing that is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the YAML file at ``path``."""
    return read_config_file(path)[0]


def read_config_file(path: str | Path) -> tuple[Config, str]:
    """``load_config``, also giving the text it read (what laneway's workers are sent, so
    that they run exactly the file the supervisor validated)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, [f"{source}: cannot read the file: {error.strerror or error}"]) from None
    return parse_config_text(text, source, base_dir=config_dir(path)), text


def config_dir(path: str | Path) -> Path:
    """Where the relative paths a config file names are read from: its directory."""
    return Path(path).absolute().parent


def parse_config_text(text: str, source: str = "<config>", *, base_dir: Path | None = None) -> Config:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(error, "problem", None) or str(error)
        # PyYAML's context says where the enclosing construct began: often the real mistake.
        context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and context_mark is not None:
            problem += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
        raise ConfigError(source, [f"{source}: {where}not valid YAML: {problem}"]) from None
    return parse_config(document, source, base_dir=base_dir)


def parse_config(document: object, source: str = "<config>", *, base_dir: Path | None = None) -> Config:
    """Validate an already parsed document (a dict, as YAML or JSON gives it).

    Files the config names (certificates, keys, CA bundles) are read from ``base_dir`` when
    their paths are relative: the config file's directory, or the working directory.
    """
    if document is None:
        raise ConfigError(source, [f"{source}: the file is empty; it needs at least listeners and pools"])
    if not isinstance(document, dict):
        raise ConfigError(source, [f"{source}: expected a mapping with listeners and pools at the top, "
                                   f"got {_kind(document)}"])
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(document, context={"base_dir": base_dir})
    except ValidationError as error:
        problems.extend(_describe(error, document))
    problems.extend(f"{path}: {message}" for path, message in reference_errors(document))
    if problems or config is None:
        raise ConfigError(source, [f"{source}: {line}" for line in problems])
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


def _describe(error: ValidationError, document: dict[str, Any]) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        lines.append(f"{field_path(loc)}: {_message(item, loc, document)}")
    return lines


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the validator's name in loc for function-wrapped and literal types, and
    # "[key]" after a mapping's key that is itself wrong (the key already names the place).
    return isinstance(part, str) and (part.startswith("function-") or part.startswith("literal[")
                                      or part == "[key]")


# What each pydantic type error expected, in the words of a YAML file.
_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
# Field patterns, said in words.
_PATTERNS = {r"^[A-Za-z0-9_.-]+$": "only letters, digits, '_', '.' and '-'",
             r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable's name: letters, digits and '_', "
                                         "not starting with a digit",
             r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$": "only letters, digits and !#$%&'*+-.^_`|~ (a header or "
                                              "cookie name: no spaces, no ; or =)",
             r"^/[\x21-\x3a\x3c-\x7e]*$": "only a path that starts with /, without spaces or ;, e.g. /shop/",
             r"^\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$": "only a domain name such as example.com "
                                                             "(letters, digits, '.' and '-')"}


def _message(item: Any, loc: tuple[int | str, ...], document: dict[str, Any]) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    # The value as the file spells it ("0ms"), not as a validator converted it (0.0).
    found, value = _lookup(document, loc)
    shown = _show(value if found else item.get("input"))
    if kind == "extra_forbidden":
        return f"unknown key; {_unknown_key_fix(loc)}"
    if kind == "missing":
        return "required but missing; add it"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "literal_error":
        return f"got {shown}; expected one of {ctx.get('expected', '')}"
    if kind in _BOUNDS:
        sign, key = _BOUNDS[kind]
        bound = ctx.get(key)
        return f"must be {sign} {bound:g}, got {shown}" if isinstance(bound, float) else \
            f"must be {sign} {bound}, got {shown}"
    if kind == "too_short" and isinstance(item.get("input"), list | dict):
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"may contain {_PATTERNS.get(pattern, f'only text matching {pattern}')}, got {shown}"
    if kind in _EXPECTED:
        given = value if found else item.get("input")
        return f"expected {_EXPECTED[kind]}, got {_kind(given)}" + ("" if given is None else f" {shown}")
    return f"{item['msg'][0].lower()}{item['msg'][1:]}, got {shown}"


def _lookup(document: object, loc: tuple[int | str, ...]) -> tuple[bool, object]:
    node = document
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            continue
        return False, None
    return True, node


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _unknown_key_fix(loc: tuple[int | str, ...]) -> str:
    """Name the keys that the mapping holding ``loc[-1]`` accepts, and the likeliest one meant."""
    model = _model_at(loc[:-1])
    if model is None:
        return "remove it or check its spelling"
    known = [field.alias or name for name, field in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known keys: {', '.join(known)}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc`` (lists and dicts of models included)."""
    annotation: Any = Config
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = annotation.model_fields.get(part)
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]  # list[Server] -> Server; dict[str, Pool] -> Pool
        else:
            return None
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``Match | None`` -> ``Match``."""
    if get_origin(annotation) in (Union, UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation
