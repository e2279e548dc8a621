"""Typed settings. Everything tradeloop stores lives under one home directory; a node is
described by one TOML file, with the environment overriding it and holding the secrets."""

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.core.secrets import resolve_secret

__all__ = ["NodeConfig", "home_dir", "load_node_config", "resolve_secret"]
