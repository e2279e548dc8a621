"""``[broker.settings]`` of the MetaTrader 5 adapter: attach and login modes, the password
read from the environment variable ``password_env`` names (never from the settings, never
shown), and clear one-line errors for settings it refuses."""

from __future__ import annotations

import pytest

from tradeloop.brokers.mt5 import load_config
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import redact_text

SECRET = "Pa55-w0rd-for-mt5-unit"


def test_no_login_is_attach_mode() -> None:
    config = load_config({"path": "C:\\MT5\\terminal64.exe"}, environ={})
    assert (config.mode, config.login, config.password, config.path) == (
        "attach", None, None, "C:\\MT5\\terminal64.exe")


def test_login_mode_reads_the_password_from_the_named_variable_once() -> None:
    environ = {"MT5_PASSWORD": SECRET}
    config = load_config({"login": 5_001_234, "server": "Broker-Demo",
                          "password_env": "MT5_PASSWORD"}, environ=environ)
    assert config.mode == "login" and config.login == 5_001_234
    assert config.password is not None and config.password.get_secret_value() == SECRET
    environ["MT5_PASSWORD"] = "changed later"  # read once, when the adapter is built
    assert config.password.get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())
    assert SECRET not in redact_text(f"initialize(password={SECRET})")  # masked in logs


def test_settings_the_adapter_refuses_are_one_clear_line() -> None:
    login = {"login": 5_001_234, "server": "Broker-Demo", "password_env": "MT5_PASSWORD"}
    with pytest.raises(ConfigError) as missing:
        load_config(login, environ={})
    assert str(missing.value) == ("broker.settings.password_env: the environment variable "
                                  "MT5_PASSWORD is not set")
    with pytest.raises(ConfigError, match="password_env: the environment variable "
                                          "MT5_PASSWORD is not set"):
        load_config(login, environ={"MT5_PASSWORD": ""})
    with pytest.raises(ConfigError) as written:
        load_config({**login, "password": SECRET}, environ={"MT5_PASSWORD": SECRET})
    assert "secrets must not be written in the settings" in str(written.value)
    assert SECRET not in str(written.value)
    with pytest.raises(ConfigError, match="login mode needs server and password_env"):
        load_config({"login": 5_001_234, "password_env": "MT5_PASSWORD"},
                    environ={"MT5_PASSWORD": SECRET})
    with pytest.raises(ConfigError, match="login mode needs server and password_env"):
        load_config({"login": 5_001_234, "server": "Broker-Demo"}, environ={})
    with pytest.raises(ConfigError, match=r"broker.settings.server_timezone: .*unknown time "
                                          r"zone 'Nowhere/City'"):
        load_config({"server_timezone": "Nowhere/City"}, environ={})
    with pytest.raises(ConfigError, match=r"broker\.settings\.halt_s: "):
        load_config({"halt_s": 0}, environ={})
    with pytest.raises(ConfigError, match=r"broker\.settings\.passwd: "):
        load_config({"passwd": "x"}, environ={})
