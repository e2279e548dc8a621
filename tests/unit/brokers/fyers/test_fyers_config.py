"""Settings of the Fyers adapter: one clear line per mistake, secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.brokers.fyers import load_config
from tradeloop.core.errors import ConfigError

BASE = {"client_id": "ABCD1234EF-100"}


def test_the_defaults_point_at_fyers() -> None:
    config = load_config(BASE, environ={})
    assert config.api_url == "https://api-t1.fyers.in"
    assert config.order_socket_url == "wss://socket.fyers.in/trade/v3"
    assert config.data_socket_url == "wss://socket.fyers.in/hsm/v1-5/prod"
    assert (config.per_second, config.per_minute, config.per_day) == (10, 200, 100_000)
    assert config.product_of("NSE:SBIN-EQ") == "INTRADAY"
    assert config.secret_key is None and config.pin is None and config.token_key is None


def test_an_unknown_setting_is_named_with_the_closest_one() -> None:
    with pytest.raises(ConfigError, match=r"^broker.settings.product: unknown setting; did you "
                                          r"mean 'products'\?$"):
        load_config({**BASE, "product": "CNC"}, environ={})


@pytest.mark.parametrize(("settings", "message"), [
    ({"client_id": "abc"}, "broker.settings: client_id 'abc' is not an app id"),
    ({**BASE, "product_type": "BO"}, "broker.settings.product_type: Input should be"),
    ({**BASE, "symbols": ["SBIN"]}, "symbol 'SBIN' is not a Fyers symbol"),
    ({**BASE, "products": {"NSE:SBIN-EQ": "XYZ"}}, "broker.settings.products.NSE:SBIN-EQ"),
    ({**BASE, "api_url": "ftp://x"}, "'ftp://x' must start with http:// or https://"),
    ({**BASE, "data_socket_url": "http://x"}, "must start with ws:// or wss://"),
    ({**BASE, "pin_env": "my pin"}, "pin_env 'my pin' is not an environment variable name"),
    ({**BASE, "per_second": 0}, "broker.settings.per_second: Input should be greater than"),
])
def test_wrong_values_are_refused_in_one_line(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(settings, environ={})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_secrets_come_from_the_environment_only() -> None:
    with pytest.raises(ConfigError, match="secret_key: secrets must not be written"):
        load_config({**BASE, "secret_key": "abc"}, environ={})
    config = load_config({**BASE, "pin_env": "MY_PIN"},
                         environ={"FYERS_SECRET_KEY": "s3cr3t-value", "MY_PIN": "1234",
                                  "FYERS_TOKEN_KEY": "k3y-value"})
    assert config.secret_key is not None and config.secret_key.get_secret_value() == \
        "s3cr3t-value"
    assert config.pin is not None and config.pin.get_secret_value() == "1234"
    assert "s3cr3t-value" not in repr(config) and "k3y-value" not in repr(config)


def test_products_may_differ_per_symbol() -> None:
    config = load_config({**BASE, "product_type": "CNC",
                          "products": {"NSE:NIFTY24DECFUT": "MARGIN"}}, environ={})
    assert config.product_of("NSE:NIFTY24DECFUT") == "MARGIN"
    assert config.product_of("NSE:SBIN-EQ") == "CNC"


def test_the_login_and_the_nodes_find_the_same_token_file(tmp_path: Path) -> None:
    config = load_config(BASE, environ={})
    home = tmp_path / "tl"
    by_login = config.token_path(home, adapter_home=False)
    assert by_login == home / "brokers" / "fyers" / "token-ABCD1234EF-100.json"
    assert config.token_path(home / "brokers" / "node-a", adapter_home=True) == by_login
    chosen = load_config({**BASE, "login_dir": str(tmp_path / "x")}, environ={})
    assert chosen.token_path(home, adapter_home=True) == tmp_path / "x" / \
        "token-ABCD1234EF-100.json"
