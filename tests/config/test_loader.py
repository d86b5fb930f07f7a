"""Every problem in a config becomes one line naming the file, the field path and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from laneway.config import Config, ConfigError, load_config, parse_config, parse_config_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "laneway.yaml"

GOOD = """\
listeners:
  - name: web
    bind: 127.0.0.1:8080
    routes:
      - match: {path_prefix: /api/}
        pool: api
      - pool: web
pools:
  api:
    servers:
      - {address: 127.0.0.1:9001}
      - {address: 127.0.0.1:9002}
      - {address: 127.0.0.1:9003}
  web:
    servers:
      - {address: 127.0.0.1:9101}
"""


def problems(text: str, source: str = "laneway.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(textwrap.dedent(text), source)
    assert caught.value.source == source
    assert caught.value.problems, "a ConfigError must say what is wrong"
    for line in caught.value.problems:
        assert line.startswith(f"{source}: "), line
        assert "Traceback" not in line and "\n" not in line, line
    return caught.value.problems


def test_a_good_config_parses() -> None:
    config = parse_config_text(GOOD, "laneway.yaml")
    assert isinstance(config, Config)
    assert [listener.name for listener in config.listeners] == ["web"]
    assert sorted(config.pools) == ["api", "web"]
    assert config.pools["api"].servers[2].host_port == ("127.0.0.1", 9003)


def test_the_example_config_loads(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    assert config.listeners[0].host_port == ("127.0.0.1", 8080)
    assert len(config.pools) == 3
    tcp = config.listeners[1]
    assert (tcp.protocol, tcp.pool) == ("tcp", "db")
    matches = [route.match for route in config.listeners[0].routes]
    assert any(match.path_prefix for match in matches)
    assert any(match.host for match in matches)


def test_a_bad_weight_names_its_path_and_value() -> None:
    text = GOOD.replace("{address: 127.0.0.1:9003}", "{address: 127.0.0.1:9003, weight: 0}")
    assert problems(text) == ["laneway.yaml: pools.api.servers[2].weight: must be >= 1, got 0"]


def test_a_fractional_weight_asks_for_a_whole_number() -> None:
    text = GOOD.replace("{address: 127.0.0.1:9003}", "{address: 127.0.0.1:9003, weight: 2.5}")
    assert problems(text) == [
        "laneway.yaml: pools.api.servers[2].weight: expected a whole number, got a number 2.5"
    ]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    colour: blue\n", "listeners[0].colour"),
        ("{address: 127.0.0.1:9001}", "{address: 127.0.0.1:9001, wieght: 2}", "pools.api.servers[0].wieght"),
        ("pools:\n", "pool:\n  x: 1\npools:\n", "pool"),
        ("{path_prefix: /api/}", "{path_prefix: /api/, verb: GET}", "listeners[0].routes[0].match.verb"),
    ],
)
def test_an_unknown_key_is_an_error_naming_its_path(old: str, new: str, path: str) -> None:
    assert old in GOOD
    [line] = problems(GOOD.replace(old, new))
    assert line.startswith(f"laneway.yaml: {path}: unknown key; ")


def test_a_misspelt_key_suggests_the_likely_one_and_lists_the_known_keys() -> None:
    [line] = problems(GOOD.replace("{address: 127.0.0.1:9001}", "{address: 127.0.0.1:9001, wieght: 2}"))
    assert "did you mean 'weight'?" in line
    assert "known keys: address, weight, backup" in line


def test_a_yaml_syntax_error_names_line_and_column() -> None:
    text = "listeners:\n  - name: web\n    bind: [127.0.0.1:8080\npools: {}\n"
    [line] = problems(text)
    assert line.startswith("laneway.yaml: line 4, column 6: not valid YAML: "), line


def test_a_tab_in_the_indentation_names_line_and_column() -> None:
    [line] = problems("listeners:\n\t- name: web\n")
    assert "line 2, column 1" in line and "not valid YAML" in line


def test_a_route_to_an_undefined_pool_names_the_route_and_the_pools_that_exist() -> None:
    text = GOOD.replace("      - pool: web\n", "      - pool: wbe\n")
    assert problems(text) == [
        "laneway.yaml: listeners[0].routes[1].pool: no pool is named 'wbe'; defined pools: api, web"
    ]


def test_duplicate_listener_names_are_an_error() -> None:
    second = "  - name: web\n    bind: 127.0.0.1:8081\n    routes: [{pool: web}]\n"
    text = GOOD.replace("pools:\n", second + "pools:\n")
    assert problems(text) == [
        "laneway.yaml: listeners[1].name: 'web' is already the name of listeners[0]; "
        "give each listener its own name"
    ]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_an_empty_file_is_an_error(text: str) -> None:
    assert problems(text) == ["laneway.yaml: the file is empty; it needs at least listeners and pools"]


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "a list"), ("hello\n", "a string"), ("3\n", "a number")]
)
def test_a_document_that_is_not_a_mapping_is_an_error(text: str, kind: str) -> None:
    assert problems(text) == [
        f"laneway.yaml: expected a mapping with listeners and pools at the top, got {kind}"
    ]


def test_all_errors_are_reported_at_once() -> None:
    text = """\
        listeners:
          - name: web
            bind: 127.0.0.1:8080
            routes: [{pool: api}, {pool: nowhere}]
            colour: blue
          - name: web
            bind: localhost
            routes: [{pool: api}]
        pools:
          api:
            algorithm: fastest
            servers:
              - {address: 127.0.0.1:9001}
              - {address: 127.0.0.1:9002}
              - {address: 127.0.0.1:9003, weight: 0}
            timeouts: {connect: 2 sec}
        shutdown_grace: -1s
        """
    found = problems(text)
    expected_paths = [
        "listeners[0].colour",
        "listeners[1].bind",
        "pools.api.algorithm",
        "pools.api.servers[2].weight",
        "pools.api.timeouts.connect",
        "shutdown_grace",
        "listeners[0].routes[1].pool",
        "listeners[1].name",
    ]
    assert sorted(line.split(": ")[1] for line in found) == sorted(expected_paths), found
    assert ("laneway.yaml: pools.api.timeouts.connect: "
            "expected a duration such as 2s or 500ms, got '2 sec'") in found
    assert "laneway.yaml: shutdown_grace: a duration must not be negative, got '-1s'" in found
    assert any("got 'fastest'; expected one of 'round_robin'" in line for line in found)


def test_the_error_message_joins_the_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text("listeners: []\npools: {}\n", "x.yaml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert caught.value.problems == [
        "x.yaml: listeners: must not be empty",
        "x.yaml: pools: must not be empty",
    ]


def test_a_missing_key_is_named() -> None:
    assert problems("listeners: [{bind: 127.0.0.1:80, routes: [{pool: api}]}]\n") == [
        "laneway.yaml: listeners[0].name: required but missing; add it",
        "laneway.yaml: pools: required but missing; add it",
    ]


def test_a_value_of_the_wrong_shape_says_what_was_expected() -> None:
    found = problems("listeners: {name: web}\npools: {api: 3}\n")
    assert found == [
        "laneway.yaml: listeners: expected a list, got a mapping {'name': 'web'}",
        "laneway.yaml: pools.api: expected a mapping, got a number 3",
    ]


def test_a_bound_shows_the_value_as_written_not_as_converted() -> None:
    [line] = problems(GOOD + "    timeouts: {connect: 0ms}\n")
    assert line == "laneway.yaml: pools.web.timeouts.connect: must be > 0, got '0ms'"


def test_a_listener_name_with_a_space_says_which_characters_are_allowed() -> None:
    [line] = problems(GOOD.replace("name: web", "name: my web"))
    assert line == ("laneway.yaml: listeners[0].name: "
                    "may contain only letters, digits, '_', '.' and '-', got 'my web'")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("bind: 127.0.0.1:8080", "bind: 8080",
         "listeners[0].bind: expected a string, got a number 8080"),
        ("bind: 127.0.0.1:8080", "bind: 127.0.0.1",
         "listeners[0].bind: bind must be host:port, e.g. 127.0.0.1:8080, got '127.0.0.1'"),
        ("bind: 127.0.0.1:8080", "bind: 127.0.0.1:70000",
         "listeners[0].bind: port must be 0-65535, got 70000"),
        ("bind: 127.0.0.1:8080", "bind: '[::zz]:80'",
         "listeners[0].bind: bind has an invalid IPv6 address in [...], got '[::zz]:80'"),
        ("{path_prefix: /api/}", "{path_prefix: api/}",
         "listeners[0].routes[0].match.path_prefix: a path starts with /, got 'api/'"),
        ("{address: 127.0.0.1:9002}", "{address: 127.0.0.1:9001}",
         "pools.api: server listed twice: 127.0.0.1:9001"),
    ],
)
def test_field_rules(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert problems(GOOD.replace(old, new)) == [f"laneway.yaml: {expected}"]


def test_a_pool_of_backups_only_is_an_error() -> None:
    text = GOOD.replace("{address: 127.0.0.1:9101}", "{address: 127.0.0.1:9101, backup: true}")
    assert problems(text) == [
        "laneway.yaml: pools.web: a pool needs at least one server that is not a backup"
    ]


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD.replace("pool: web", "pool: nope"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.problems[0].startswith(f"{path}: listeners[0].routes[1].pool: ")


def test_a_file_that_cannot_be_read_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: cannot read the file: No such file or directory"]


def test_parse_config_takes_an_already_parsed_document() -> None:
    document = {"listeners": [{"name": "web", "bind": "127.0.0.1:0", "routes": [{"pool": "api"}]}],
                "pools": {"api": {"servers": [{"address": "127.0.0.1:9001"}]}}}
    config = parse_config(document, "built in code")
    assert config.listeners[0].host_port == ("127.0.0.1", 0)
    with pytest.raises(ConfigError) as caught:
        parse_config({**document, "pools": {}}, "built in code")
    assert caught.value.problems == [
        "built in code: pools: must not be empty",
        "built in code: listeners[0].routes[0].pool: no pool is named 'api'; defined pools: (none)",
    ]
