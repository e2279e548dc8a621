"""An API app over a stored node database (no node running), with tokens of each scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Served, node_config
from fastapi.testclient import TestClient

from tradeloop.api.app import create_app
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.tokens import create_token, revoke_token


@pytest.fixture
def served(tmp_path: Path, tradeloop_home: Path) -> Iterator[Served]:
    config = node_config(tmp_path)
    tokens = {}
    for name, scopes in (("reader", ["read"]), ("trader", ["trade"]), ("admin", ["admin"])):
        tokens[name] = create_token(name, scopes, expires_in=None, by="test").token
    tokens["revoked"] = create_token("gone", ["admin"], expires_in=None, by="test").token
    revoke_token("gone")
    database = open_database(None, tradeloop_home)
    control = NodeControl(config, AuditStore(database), home=tradeloop_home)
    app = create_app(control)
    with TestClient(app, client=("203.0.113.9", 50000)) as client:
        yield Served(client, control, tokens, tradeloop_home)
    database.close()
