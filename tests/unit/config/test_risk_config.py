"""The [risk] table: validation with clear errors, and the rules it builds, scope by scope."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.config.risk import (
    build_rules,
    load_risk_config,
    parse_duration_s,
    parse_risk_config,
    session_hours,
)
from tradeloop.core.errors import ConfigError
from tradeloop.risk import Scope

FULL = """
[risk]
daily_loss_limit = "500"
daily_loss_action = "reduce"
max_drawdown_pct = "10"
pattern_day_trader = true

[risk.trading_day]
timezone = "America/New_York"
reset = "17:00"

[risk.account]
max_order_quantity = "100000"
max_gross_exposure = "500000"
max_open_positions = 3
max_orders_per_second = 5
max_trades_per_day = 10
loss_streak = { losses = 3, pause = "1h" }

[risk.strategies.sma]
max_trades_per_day = 4

[risk.symbols.EURUSD]
max_position = "200000"
price_band_pct = "1"
sessions = "london_new_york"
cooldown_after_trade = "5m"

[risk.venues.PAPER]
max_orders_per_minute = 100
"""


def test_every_limit_becomes_one_rule_with_its_scope(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(FULL)
    rules = build_rules(load_risk_config(path))
    names = [(type(r).__name__, r.scope) for r in rules]
    assert names == [
        ("OrderQuantityLimit", Scope()),
        ("PriceBand", Scope(symbol="EURUSD")),
        ("ExposureLimit", Scope()),
        ("MaxOpenPositions", Scope()),
        ("MaxPosition", Scope(symbol="EURUSD")),
        ("OrderRateLimit", Scope()),
        ("TradesPerDay", Scope()),
        ("LossStreakCooldown", Scope()),
        ("TradesPerDay", Scope(strategy="sma")),
        ("TradeCooldown", Scope(symbol="EURUSD")),
        ("OrderRateLimit", Scope(venue="PAPER")),
        ("TradingSessionRule", Scope(symbol="EURUSD")),
        ("PatternDayTrader", Scope()),
        ("DailyLossLimit", Scope()),
        ("DrawdownLimit", Scope()),
    ]


def test_a_file_of_only_risk_keys_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text('daily_loss_limit = "250"\n[account]\nmax_trades_per_day = 2\n')
    config = load_risk_config(path)
    assert config.daily_loss_limit == Decimal(250)
    assert config.account.max_trades_per_day == 2


@pytest.mark.parametrize(("table", "message"), [
    ({"symbols": {"EURUSD": {"max_postion": 5}}},
     "risk.symbols.EURUSD.max_postion: unknown key; did you mean 'max_position'?"),
    ({"daily_loss_limt": 3}, "risk.daily_loss_limt: unknown key; did you mean 'daily_loss_limit'?"),
    ({"account": {"max_order_quantity": "-5"}}, "risk.account.max_order_quantity: Input should "
     "be greater than 0"),
    ({"daily_loss_action": "panic"}, "risk.daily_loss_action: Input should be 'halt' or 'reduce'"),
    ({"max_drawdown_pct": 150}, "risk.max_drawdown_pct: Input should be less than or equal to 100"),
], ids=["misspelt-symbol-key", "misspelt-top-key", "negative", "bad-action", "drawdown-over-100"])
def test_bad_settings_name_the_key_and_the_reason(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_risk_config(table, "node.toml")
    assert str(raised.value) == f"node.toml: {message}"


def test_a_missing_or_broken_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such risk settings file"):
        load_risk_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[risk\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_risk_config(broken)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("15m", 900.0), ("15min", 900.0), ("1h", 3600.0), ("1d", 86400.0),
    (30, 30.0), ("0", 0.0), (" 2h ", 7200.0),
])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "1y", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration_s(text, "cooldown_after_trade")


def test_sessions_by_fx_name_exchange_calendar_or_spec() -> None:
    assert session_hours("london_new_york").name == "london_new_york"
    spec = session_hours("Mon-Fri 09:30-16:00 America/New_York")
    assert spec.is_open(1_736_260_200_000_000_000)  # Tue 2025-01-07 14:30 UTC = 09:30 New York
    union = session_hours(["tokyo", "london"])
    assert union.is_open(1_736_240_400_000_000_000)  # 09:00 UTC: London open, Tokyo closed
    with pytest.raises(ConfigError):
        session_hours("Atlantis")


def test_a_news_blackout_needs_the_economic_calendar() -> None:
    config = parse_risk_config({"symbols": {"EURUSD": {"news_blackout": {"before": "30m"}}}})
    with pytest.raises(ConfigError, match="needs the economic calendar"):
        build_rules(config)
