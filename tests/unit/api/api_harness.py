"""What the API unit tests share: the served app with its control and tokens, and a node's
settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.services.control import NodeControl


@dataclass
class Served:
    """The app's test client, its control and a token of each kind."""

    client: TestClient
    control: NodeControl
    tokens: dict[str, str]
    home: Path


def node_config(tmp_path: Path, environ: dict[str, str] | None = None) -> NodeConfig:
    path = tmp_path / "node.toml"
    path.write_text('''
mode = "paper"
name = "api-node"
[data]
source = "synthetic"
[data.synthetic]
symbols = ["EURUSD"]
[logging]
file = ""
[[strategies]]
strategy = "sma_cross"
id = "sma"
symbols = ["EURUSD"]
''', encoding="utf-8")
    return load_node_config(path, environ=environ or {})
