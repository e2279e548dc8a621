"""Settings of the cTrader adapter and its error table: one clear line per mistake, secrets
from the environment only and never shown, every cTrader code in its class."""

from __future__ import annotations

from typing import Any

import pytest

from tradeloop.brokers.ctrader.config import load_config
from tradeloop.brokers.ctrader.errors import (
    CtraderAuthError,
    CtraderFatalError,
    CtraderOutcomeUnknownError,
    CtraderRetryableError,
    ErrorClass,
    classify,
    describe,
    error_for,
)
from tradeloop.core.errors import ConfigError

ENV = {"CID": "client-id-1234", "CSECRET": "client-secret-5678",
       "CTOKEN": "access-token-abcdef", "CREFRESH": "refresh-token-ghijkl"}
BASE = {"client_id_env": "CID", "client_secret_env": "CSECRET", "access_token_env": "CTOKEN"}


def _load(**over: Any) -> Any:
    return load_config({**BASE, **over}, environ=ENV)


def test_defaults_and_hosts() -> None:
    config = _load()
    assert config.address == ("demo.ctraderapi.com", 5035)
    assert _load(environment="live").address == ("live.ctraderapi.com", 5035)
    assert _load(host="127.0.0.1", port=9000).address == ("127.0.0.1", 9000)
    assert config.secret("access_token") == "access-token-abcdef"
    assert config.secret("refresh_token") == ""
    assert _load(refresh_token_env="CREFRESH").secret("refresh_token") == "refresh-token-ghijkl"
    assert (config.heartbeat_s, config.read_timeout_s, config.label) == (10.0, 30.0,
                                                                           "tradeloop")


def test_secrets_never_show() -> None:
    config = _load(refresh_token_env="CREFRESH")
    text = repr(config) + str(config) + str(config.model_dump())
    for secret in ENV.values():
        assert secret not in text


@pytest.mark.parametrize(("settings", "message"), [
    ({"acount_id": 5}, "broker.settings.acount_id: unknown setting; did you mean 'account_id'?"),
    ({"access_token": "literal"}, "broker.settings.access_token: secrets must not be written"),
    ({"access_token_env": ""}, "broker.settings.access_token_env: name the environment "
                               "variable"),
    ({"refresh_token_env": "NOPE"}, "broker.settings.refresh_token_env: the environment "
                                    "variable NOPE is not set"),
    ({"environment": "paper"}, "broker.settings.environment: Input should be 'demo' or 'live'"),
    ({"port": 0}, "broker.settings.port: Input should be greater than 0"),
    ({"reconnect_initial_s": 5, "reconnect_max_s": 1},
     "broker.settings: reconnect_max_s must be at least reconnect_initial_s"),
    ({"heartbeat_s": 10, "read_timeout_s": 5},
     "broker.settings: read_timeout_s must be longer than heartbeat_s"),
    ({"label": "x" * 101}, "broker.settings.label: String should have at most 100"),
])
def test_mistakes_give_one_line_naming_the_setting(settings: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**settings)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text
    for secret in ENV.values():
        assert secret not in text


@pytest.mark.parametrize(("code", "kind"), [
    ("NOT_ENOUGH_MONEY", CtraderFatalError), ("TRADING_BAD_VOLUME", CtraderFatalError),
    ("MARKET_CLOSED", CtraderFatalError), ("ORDER_NOT_FOUND", CtraderFatalError),
    ("BLOCKED_PAYLOAD_TYPE", CtraderRetryableError),
    ("REQUEST_FREQUENCY_EXCEEDED", CtraderRetryableError),
    ("ACCOUNT_NOT_AUTHORIZED", CtraderRetryableError),
    ("SERVER_IS_UNDER_MAINTENANCE", CtraderRetryableError),
    ("UNKNOWN_ERROR", CtraderOutcomeUnknownError),
    ("CH_ACCESS_TOKEN_INVALID", CtraderAuthError), ("OA_AUTH_TOKEN_EXPIRED", CtraderAuthError),
    ("CH_CLIENT_AUTH_FAILURE", CtraderAuthError), ("SOMETHING_NEW", CtraderFatalError),
])
def test_each_code_has_its_class(code: str, kind: type) -> None:
    error = error_for(code, "details")
    assert type(error) is kind
    assert error.code == code and code in str(error)


def test_messages_say_what_happened_and_what_to_do() -> None:
    assert describe("NOT_ENOUGH_MONEY", "Not enough money") == \
        "cTrader NOT_ENOUGH_MONEY (not enough money)"
    assert describe("NOT_ENOUGH_MONEY", "margin 12.5 USD missing") == \
        "cTrader NOT_ENOUGH_MONEY (not enough money): margin 12.5 USD missing"
    assert describe("X") == "cTrader X"
    assert classify("X") is ErrorClass.FATAL
    expired = str(error_for("OA_AUTH_TOKEN_EXPIRED"))
    assert "access token has expired" in expired and "get a new access token" in expired
    assert "client id and secret" in str(error_for("CH_CLIENT_AUTH_FAILURE"))
    retry = error_for("BLOCKED_PAYLOAD_TYPE", "", 2.0)
    assert isinstance(retry, CtraderRetryableError) and retry.retry_after_s == 2.0
