"""What the API unit tests share: the served app with its control and tokens, and a node's
settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from support.nodes import synthetic_node_config
from tradeloop.config.node import NodeConfig
from tradeloop.services.control import NodeControl


@dataclass
class Served:
    """The app's test client, its control and a token of each kind."""

    client: TestClient
    control: NodeControl
    tokens: dict[str, str]
    home: Path


def node_config(tmp_path: Path, environ: dict[str, str] | None = None) -> NodeConfig:
    return synthetic_node_config(tmp_path, name="api-node", environ=environ)
