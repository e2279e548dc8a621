"""Polygon settings, ticker spellings and bar lengths."""

from __future__ import annotations

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.data.sources.polygon import aggregate_span, polygon_history
from tradeloop.data.sources.polygon_settings import (
    PolygonSettings,
    load_settings,
    parse_ticker,
)
from tradeloop.data.timeframes import Timeframe

KEY = "pk_unit_Yy3kT8wq0Lmz"
ENV = {"POLYGON_API_KEY": KEY}


def test_defaults_keep_to_the_free_tier_and_read_the_key() -> None:
    settings = load_settings({}, ENV)
    assert settings.requests_per_minute == 5
    assert settings.auth == "header" and settings.base_url == "https://api.polygon.io"
    assert settings.page_limit == 50_000 and settings.adjusted
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings)


def test_the_key_variable_can_be_renamed() -> None:
    settings = load_settings({"api_key_env": "MY_POLY"}, {"MY_POLY": KEY})
    assert settings.key_source == "$MY_POLY"


def test_a_missing_key_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="polygon settings: api_key_env: the environment "
                                          "variable POLYGON_API_KEY is not set"):
        load_settings({}, {})


def test_a_key_written_in_the_settings_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="must not be written in the settings") as caught:
        load_settings({"api_key": KEY}, ENV)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(("settings", "message"), [
    ({"request_per_minute": 5}, "request_per_minute: unknown setting; did you mean "
                                "'requests_per_minute'?"),
    ({"base_uri": "x"}, "base_uri: unknown setting; did you mean 'base_url'?"),
    ({"page_limit": 60_000}, "page_limit: Input should be less than or equal to 50000"),
    ({"base_url": "api.polygon.io"}, "base_url: must start with https://"),
    ({"auth": "cookie"}, "auth: Input should be 'header' or 'query'"),
    ({"requests_per_minute": -1}, "requests_per_minute: Input should be greater than or "
                                  "equal to 0"),
])
def test_bad_settings_name_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^polygon settings: " + message.replace(
            "(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        load_settings(settings, ENV)


def test_a_rate_limit_of_zero_turns_the_limiter_off() -> None:
    assert polygon_history({"requests_per_minute": 0}, environ=ENV).client.limiter is None
    limited = polygon_history({}, environ=ENV).client.limiter
    assert limited is not None and (limited.max_requests, limited.window_s) == (5, 60.0)


@pytest.mark.parametrize(("text", "asset", "trades"), [
    ("AAPL", "stocks", True), ("BRK.B", "stocks", True),
    ("O:SPY251219C00650000", "options", True), ("C:EURUSD", "fx", False),
    ("X:BTCUSD", "crypto", True), ("I:SPX", "indices", False),
])
def test_tickers_tell_their_asset_class(text: str, asset: str, trades: bool) -> None:
    ticker = parse_ticker(text)
    assert (ticker.ticker, ticker.asset_class, ticker.has_trades) == (text, asset, trades)


@pytest.mark.parametrize(("text", "message"), [
    ("aapl", "Polygon tickers are upper case; did you mean 'AAPL'?"),
    ("BTC/USD", "write currency pairs as 'C:BTCUSD' and crypto pairs as 'X:BTCUSD'"),
    ("O:SPY25C650", "an option ticker is O:, the underlying, the expiry as YYMMDD"),
    ("C:EUR-USD", "such as C:EURUSD"),
    ("X:BTC-USD", "such as X:BTCUSD"),
    ("", "the ticker is empty"),
    ("1ABC", "is not a stock ticker; prefix options with O:"),
])
def test_malformed_tickers_are_explained(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_ticker(text)


@pytest.mark.parametrize(("timeframe", "span"), [
    ("1m", (1, "minute")), ("5m", (5, "minute")), ("90m", (90, "minute")),
    ("1h", (1, "hour")), ("4h", (4, "hour")), ("1d", (1, "day")), ("1w", (1, "week")),
    ("30s", (30, "second")), ("36h", (36, "hour")),
])
def test_bar_lengths_map_to_polygon_spans(timeframe: str, span: tuple[int, str]) -> None:
    assert aggregate_span(timeframe) == span


def test_a_length_of_partial_seconds_is_refused() -> None:
    with pytest.raises(ConfigError, match="whole seconds"):
        aggregate_span(Timeframe(NANOS_PER_SECOND // 2))


def test_settings_are_frozen() -> None:
    settings = PolygonSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.requests_per_minute = 10  # type: ignore[misc]
