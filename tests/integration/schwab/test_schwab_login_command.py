"""``tradeloop broker login schwab``: a person logs in once through the command, and a node
configured for the same app finds the tokens the login stored, without logging in again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.schwab import SchwabServer, approve
from support.schwab.harness import adapter_settings
from tradeloop.config.node import load_node_config
from tradeloop.services.live import broker_adapter, broker_login


def _node_file(tmp_path: Path, settings: dict[str, Any]) -> Path:
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path = tmp_path / "node.toml"
    path.write_text('mode = "live"\nname = "schwab-node"\n[broker]\nname = "schwab"\n'
                    '[broker.settings]\n' + "\n".join(lines) + '\n[data]\nsource = "broker"\n'
                    'symbols = ["AAPL@1m"]\n[[strategies]]\nstrategy = "sma_cross"\n',
                    encoding="utf-8")
    return path


def test_a_node_uses_the_tokens_of_the_login_command(schwab: SchwabServer, environment: None,
                                                    tmp_path: Path) -> None:
    node_file = _node_file(tmp_path, adapter_settings(schwab))
    home = tmp_path / "home"
    shown: list[str] = []

    def ask(_question: str) -> str:  # the person opens the address and pastes where it led
        return approve(next(line for line in reversed(shown) if "/oauth/authorize" in line))

    broker_login("schwab", node_file, ask=ask, show=shown.append, home=home)
    assert schwab.oauth.grants_of("authorization_code") == 1

    async def account_of_node() -> str:
        adapter = broker_adapter(load_node_config(node_file, environ={}), home)
        try:
            await adapter.execution.connect()
            return (await adapter.execution.account()).currency
        finally:
            await adapter.close()

    assert asyncio.run(account_of_node()) == "USD"
    assert schwab.oauth.grants_of("authorization_code") == 1  # no second login


def test_the_command_names_the_brokers_that_have_a_login(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tradeloop", "broker", "login", "schwb"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "TRADELOOP_HOME": str(tmp_path)})
    assert done.returncode != 0
    assert "broker 'schwb' has no interactive login; did you mean 'schwab'?" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
