"""Settings of the Schwab adapter: one clear line per mistake, secrets from the environment or
the secrets file only, and where the encrypted tokens live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.brokers.base import create_adapter
from tradeloop.brokers.schwab.config import load_config, tradeloop_root
from tradeloop.core.errors import ConfigError

ENV = {"SCHWAB_APP_KEY": "app-key-1234", "SCHWAB_APP_SECRET": "app-secret",
       "SCHWAB_TOKEN_KEY": "a-long-enough-token-key"}


def test_defaults_read_the_three_variables() -> None:
    config = load_config({}, ENV)
    assert config.app_key is not None and config.app_key.get_secret_value() == "app-key-1234"
    assert config.api_url == "https://api.schwabapi.com"
    assert config.session == "NORMAL"
    assert "app-key-1234" not in repr(config) and "app-secret" not in repr(config)


def test_unknown_setting_names_the_closest_one() -> None:
    with pytest.raises(ConfigError, match=r"broker\.settings\.pol_interval_s: unknown setting; "
                                          r"did you mean 'poll_interval_s'\?"):
        load_config({"pol_interval_s": 1}, ENV)


def test_a_wrong_value_names_its_setting() -> None:
    with pytest.raises(ConfigError, match=r"broker\.settings\.session: "):
        load_config({"session": "EVENING"}, ENV)
    with pytest.raises(ConfigError, match=r"broker\.settings\.api_url: .*https://"):
        load_config({"api_url": "api.schwabapi.com"}, ENV)


def test_a_missing_variable_is_named_with_what_it_holds() -> None:
    env = dict(ENV)
    del env["SCHWAB_APP_SECRET"]
    with pytest.raises(ConfigError, match=r"app_secret_env: the environment variable "
                                          r"SCHWAB_APP_SECRET is not set: it holds the app "
                                          r"secret"):
        load_config({}, env)


def test_literal_secrets_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"broker\.settings\.app_secret: secrets must not be "
                                          r"written in the settings"):
        load_config({"app_secret": "plain"}, ENV)


def test_a_short_token_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        load_config({}, dict(ENV, SCHWAB_TOKEN_KEY="short"))


def test_variables_come_from_the_secrets_file_too(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# mine\nexport MY_KEY='from-the-file'\nOTHER=x\n", encoding="utf-8")
    env = {**ENV, "TRADELOOP_SECRETS_FILE": str(secrets), "SCHWAB_APP_KEY": ""}
    del env["SCHWAB_APP_KEY"]
    config = load_config({"app_key_env": "MY_KEY"}, env)
    assert config.app_key is not None and config.app_key.get_secret_value() == "from-the-file"
    with pytest.raises(ConfigError, match="MISSING is not set"):
        load_config({"app_key_env": "MISSING"}, env)
    won = load_config({"app_key_env": "MY_KEY"}, {"MY_KEY": "env wins", **env})
    assert won.app_key is not None and won.app_key.get_secret_value() == "env wins"


def test_tokens_are_shared_by_the_login_nodes_and_downloads(tmp_path: Path) -> None:
    config = load_config({}, ENV)
    login = config.token_path(tmp_path)
    assert config.token_path(tmp_path / "brokers" / "node-a") == login
    assert config.token_path(tmp_path / "brokers" / "download") == login
    assert login.parent == tmp_path / "schwab"
    assert tradeloop_root(tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert load_config({"login_file": "t.enc"}, ENV).token_path(tmp_path) == tmp_path / "t.enc"
    absolute = tmp_path / "x" / "y.enc"
    assert load_config({"login_file": str(absolute)}, ENV).token_path(tmp_path) == absolute


def test_the_adapter_is_created_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    adapter = create_adapter("schwab", {"symbols": ["AAPL"]}, tmp_path)
    assert adapter.name == "schwab" and adapter.market_data is not None
    caps = adapter.capabilities
    assert caps.oco and caps.oto and caps.trailing_stop and not caps.fractional
    assert caps.quotes and caps.history and not caps.bars and not caps.streaming
