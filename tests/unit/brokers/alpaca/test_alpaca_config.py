"""The Alpaca adapter's settings: paper by default, keys only from the environment, and one
clear error per bad setting."""

from __future__ import annotations

import pytest

from tradeloop.brokers.alpaca.config import load_config
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import redact_text

ENV = {"APCA_API_KEY_ID": "PKUNITTEST0000000001", "APCA_API_SECRET_KEY": "unit-secret-value"}


def test_defaults_trade_the_paper_account_with_alpacas_own_variables() -> None:
    config = load_config({}, ENV)
    assert config.paper and config.feed == "iex" and config.venue == "ALPACA"
    assert (config.key_id, config.secret_key) == (ENV["APCA_API_KEY_ID"],
                                                  ENV["APCA_API_SECRET_KEY"])
    assert config.trading_url == "" and not config.extended_hours
    assert not config.fractional_shares and config.adjustment == "raw"


def test_keys_never_show_in_reprs_or_logs() -> None:
    config = load_config({"paper": False}, ENV)
    assert not config.paper
    assert "unit-secret-value" not in repr(config) and "PKUNITTEST" not in repr(config)
    assert redact_text("secret is unit-secret-value") == "secret is ***"


def test_named_variables_must_be_set() -> None:
    with pytest.raises(ConfigError, match=r"^broker\.settings\.secret_env: the environment "
                                          r"variable MY_SECRET is not set"):
        load_config({"secret_env": "MY_SECRET"}, ENV)
    with pytest.raises(ConfigError, match="APCA_API_KEY_ID is not set"):
        load_config({}, {})


def test_keys_written_in_the_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"broker\.settings\.secret: keys must not be written "
                                          "in the settings"):
        load_config({"secret": "abc"}, ENV)


def test_an_unknown_setting_is_named_with_the_closest_one() -> None:
    with pytest.raises(ConfigError, match=r"^broker\.settings\.extended_hour: unknown setting; "
                                          r"did you mean 'extended_hours'\?$"):
        load_config({"extended_hour": True}, ENV)


@pytest.mark.parametrize(("settings", "message"), [
    ({"feed": "otc"}, r"broker\.settings\.feed: Input should be 'iex', 'sip' or 'delayed_sip'"),
    ({"trading_url": "ftp://x"}, "trading_url must start with http:// or https://"),
    ({"stream_url": "http://x"}, "stream_url must start with ws:// or wss://"),
    ({"timeout_s": 0}, r"broker\.settings\.timeout_s: Input should be greater than 0"),
    ({"reconnect_initial_s": 5, "reconnect_max_s": 1},
     "reconnect_max_s must be at least reconnect_initial_s"),
])
def test_a_wrong_value_is_one_line_naming_the_field(settings: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(settings, ENV)
    assert "\n" not in str(caught.value)
