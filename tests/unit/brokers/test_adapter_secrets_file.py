"""Every adapter that takes a credential reads it from the environment or from the secrets file
named by TRADELOOP_SECRETS_FILE (ground rule 4), through the one reader in
``tradeloop.core.secrets``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.brokers.alpaca.config import load_config as alpaca_config
from tradeloop.brokers.ccxt.config import load_config as ccxt_config
from tradeloop.brokers.ctrader.config import load_config as ctrader_config
from tradeloop.brokers.fyers.config import load_config as fyers_config
from tradeloop.brokers.mt5.config import load_config as mt5_config


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "secrets.env"
    path.write_text("# the node's secrets\nKEY_A=alpha-key\nKEY_B='beta secret'\n",
                    encoding="utf-8")
    path.chmod(0o600)
    return {"TRADELOOP_SECRETS_FILE": str(path)}


def test_ccxt_keys_from_the_secrets_file(secrets: dict[str, str]) -> None:
    config = ccxt_config({"api_key_env": "KEY_A", "secret_env": "KEY_B"}, "binance", secrets)
    assert config.api_key is not None and config.api_key.get_secret_value() == "alpha-key"
    assert config.secret is not None and config.secret.get_secret_value() == "beta secret"


def test_alpaca_keys_from_the_secrets_file(secrets: dict[str, str]) -> None:
    config = alpaca_config({"api_key_env": "KEY_A", "secret_env": "KEY_B"}, secrets)
    assert config.secret is not None and config.secret.get_secret_value() == "beta secret"


def test_mt5_password_from_the_secrets_file(secrets: dict[str, str]) -> None:
    config = mt5_config({"login": 5, "server": "Demo", "password_env": "KEY_B"}, secrets)
    assert config.password is not None and config.password.get_secret_value() == "beta secret"


def test_ctrader_credentials_from_the_secrets_file(secrets: dict[str, str]) -> None:
    config = ctrader_config({"client_id_env": "KEY_A", "client_secret_env": "KEY_B",
                             "access_token_env": "KEY_A", "account_id": 1}, secrets)
    assert config.client_secret is not None
    assert config.client_secret.get_secret_value() == "beta secret"


def test_an_unset_variable_is_still_named(secrets: dict[str, str]) -> None:
    with pytest.raises(Exception, match="KEY_C is not set"):
        mt5_config({"login": 5, "server": "Demo", "password_env": "KEY_C"}, secrets)


def test_fyers_secret_from_the_secrets_file(secrets: dict[str, str]) -> None:
    config = fyers_config({"client_id": "ABCD1234-100", "secret_key_env": "KEY_B"}, secrets)
    assert config.secret_key is not None and config.secret_key.get_secret_value() == "beta secret"
