"""The config: its schema, its defaults and every validation error message."""

from laneway.config.loader import (
    ConfigError,
    config_dir,
    load_config,
    parse_config,
    parse_config_text,
    read_config_file,
)
from laneway.config.schema import Config, Listener, Pool, Route, Server

__all__ = [
    "Config",
    "ConfigError",
    "Listener",
    "Pool",
    "Route",
    "Server",
    "config_dir",
    "load_config",
    "parse_config",
    "parse_config_text",
    "read_config_file",
]
