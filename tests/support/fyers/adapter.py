"""The Fyers adapter on the local Fyers: its settings and a stored login, for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradeloop.brokers.fyers import load_config
from tradeloop.brokers.fyers.tokens import TokenSet, TokenStore

from .server import FyersServer
from .tokens import APP_ID, REDIRECT_URI

#: The environment variable the tests put the token encryption key in.
KEY_ENV = "TL_TEST_FYERS_TOKEN_KEY"
SECRET_ENV = "TL_TEST_FYERS_SECRET"
PIN_ENV = "TL_TEST_FYERS_PIN"


def adapter_settings(server: FyersServer, tmp: Path, **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of a Fyers adapter on ``server``: tokens under ``tmp``, encrypted
    with the key in :data:`KEY_ENV`, requests paced under the server's limits."""
    settings: dict[str, Any] = {
        "client_id": APP_ID, "redirect_uri": REDIRECT_URI, "token_key_env": KEY_ENV,
        "secret_key_env": SECRET_ENV, "login_dir": str(tmp / "fyers-tokens"),
        "symbols": ["NSE:SBIN-EQ"], "api_url": server.base_url,
        "order_socket_url": f"{server.ws_url}/trade/v3",
        "data_socket_url": f"{server.ws_url}/hsm/v1-5/prod",
        "symbol_master_url": f"{server.base_url}/sym_details",
        "per_second": min(40, server.per_second or 40),
        "per_minute": min(2000, server.per_minute or 2000), "timeout_s": 5.0,
        "sweep_interval_s": 1.0, "poll_interval_s": 0.2, "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5, "use_system_proxy": False,
    }
    settings.update(extra)
    return settings


def store_login(server: FyersServer, settings: dict[str, Any], home: Path,
                refresh: str | None = None) -> TokenSet:
    """Write a fresh access token of ``server`` where the adapter of ``settings`` with home
    ``home`` reads it (as ``tradeloop broker login fyers`` would)."""
    config = load_config(settings)
    store = TokenStore(config.token_path(home, adapter_home=True), config.token_key)
    tokens = TokenSet.from_tokens(server.issue_token(), refresh)
    store.save(tokens)
    return tokens


__all__ = ["KEY_ENV", "PIN_ENV", "SECRET_ENV", "adapter_settings", "store_login"]
