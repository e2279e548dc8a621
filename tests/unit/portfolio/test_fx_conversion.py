"""FX: PnL of instruments quoted in another currency, converted to the account currency."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.portfolio.fx import FxRates
from tradeloop.portfolio.portfolio import Portfolio

D = Decimal
START = D(100_000)
USDJPY = Instrument.fx_pair("USDJPY")
EURUSD = Instrument.fx_pair("EURUSD")
TOYOTA = Instrument.equity("7203", currency="JPY")

_trade = count(1)


def fill(symbol: str, side: OrderSide, qty: Decimal, px: Decimal, *,
         commission: Decimal = Decimal(0), currency: str = "") -> ev.OrderFilled:
    return ev.OrderFilled(
        ts=next(_trade), client_order_id="O-1", strategy_id="S", symbol=symbol,
        venue_order_id="V-1", trade_id=f"T-{next(_trade)}", side=side, last_qty=qty,
        last_px=px, commission=commission, commission_currency=currency,
    )


def usd_portfolio(*instruments: Instrument, fixed: dict[str, float] | None = None) -> Portfolio:
    cache = Cache()
    for inst in instruments:
        cache.add_instrument(inst)
    account = Account("A", "USD", AccountType.MARGIN, START, leverage=D(30))
    return Portfolio(cache, account, fx=FxRates(cache, fixed))


def near(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= D("1e-9") * max(abs(a), abs(b), D(1))


def test_usdjpy_round_trip_pnl_in_usd() -> None:
    p = usd_portfolio(USDJPY)
    p.cache.last_prices["USDJPY"] = 150.0
    p.on_fill(fill("USDJPY", OrderSide.BUY, D(100_000), D("150.000")))
    position = p.cache.positions["USDJPY-S"]
    assert position.currency == "JPY"

    p.cache.last_prices["USDJPY"] = 151.5
    # 1.5 JPY a unit on 100,000 units is 150,000 JPY, worth 150,000 / 151.5 USD
    assert position.unrealized_pnl(D("151.5")) == D(150_000)
    assert near(p.unrealized_pnl(), D(150_000) / D("151.5"))
    assert near(p.equity, START + D(150_000) / D("151.5"))

    p.on_fill(fill("USDJPY", OrderSide.SELL, D(40_000), D("151.500")))
    assert position.realized_pnl == D(60_000)  # in JPY
    assert near(p.balance, START + D(60_000) / D("151.5"))
    assert near(p.realized_pnl(), D(60_000) / D("151.5"))
    assert near(p.unrealized_pnl(), D(90_000) / D("151.5"))

    p.cache.last_prices["USDJPY"] = 149.0
    p.on_fill(fill("USDJPY", OrderSide.SELL, D(60_000), D("149.000")))
    assert position.is_flat
    assert position.realized_pnl == D(0)  # +60,000 then -60,000 JPY
    # the balance booked each realisation at the rate of its fill
    assert near(p.balance, START + D(60_000) / D("151.5") - D(60_000) / D(149))
    assert p.unrealized_pnl() == 0
    assert p.equity == p.balance


def test_jpy_commission_is_converted_usd_commission_is_not() -> None:
    p = usd_portfolio(USDJPY)
    p.cache.last_prices["USDJPY"] = 150.0
    p.on_fill(fill("USDJPY", OrderSide.BUY, D(1000), D(150), commission=D(300)))
    assert near(p.account.commissions, D(2))
    assert near(p.balance, START - D(2))
    p.on_fill(fill("USDJPY", OrderSide.BUY, D(1000), D(150), commission=D(3), currency="USD"))
    assert near(p.account.commissions, D(5))
    assert near(p.balance, START - D(5))


def test_jpy_quoted_equity_uses_usdjpy_price() -> None:
    p = usd_portfolio(USDJPY, TOYOTA)
    p.cache.last_prices["USDJPY"] = 125.0
    p.on_fill(fill("7203", OrderSide.BUY, D(100), D(2500)))
    p.cache.last_prices["7203"] = 2750.0
    assert near(p.unrealized_pnl(), D(25_000) / D(125))
    assert near(p.gross_exposure(), D(275_000) / D(125))
    assert near(p.cash, START - D(250_000) / D(125))
    p.cache.last_prices["USDJPY"] = 100.0  # the yen strengthens: the same JPY gain is worth more
    assert near(p.unrealized_pnl(), D(250))


def test_usd_quoted_pair_needs_no_conversion() -> None:
    p = usd_portfolio(EURUSD)  # no price for EURUSD: none needed, PnL is already in USD
    p.on_fill(fill("EURUSD", OrderSide.SELL, D(10_000), D("1.10000")))
    p.on_fill(fill("EURUSD", OrderSide.BUY, D(10_000), D("1.09000"), commission=D(1)))
    assert p.balance == START + D(100) - D(1)


def test_rate_direct_inverse_and_identity() -> None:
    cache = Cache()
    cache.add_instrument(USDJPY)
    cache.add_instrument(EURUSD)
    cache.last_prices.update({"USDJPY": 160.0, "EURUSD": 1.25})
    fx = FxRates(cache)
    assert fx.rate("USD", "USD") == 1
    assert fx.rate("USD", "JPY") == D(160)
    assert fx.rate("JPY", "USD") == 1 / D(160)
    assert fx.rate("EUR", "USD") == D("1.25")
    assert fx.rate("USD", "EUR") == D("0.8")
    assert fx.source("JPY", "USD") == ("USDJPY", True)
    assert fx.source("EUR", "USD") == ("EURUSD", False)
    assert fx.source("EUR", "JPY") is None


def test_no_converter_raises_config_error_with_help() -> None:
    fx = FxRates(usd_portfolio(TOYOTA).cache)
    with pytest.raises(ConfigError) as info:
        fx.rate("JPY", "USD")
    message = str(info.value)
    assert "cannot convert JPY to USD" in message
    assert "USDJPY" in message and "JPYUSD" in message
    assert "JPY/USD=" in message


def test_fx_instrument_without_a_price_and_no_fixed_rate_raises() -> None:
    fx = FxRates(usd_portfolio(USDJPY).cache)
    with pytest.raises(ConfigError, match="cannot convert JPY to USD"):
        fx.rate("JPY", "USD")


def test_first_fill_in_the_converting_pair_uses_its_own_price() -> None:
    """A backtest fills on a bar before recording that bar's price: the fill is the rate."""
    p = usd_portfolio(USDJPY)
    assert "USDJPY" not in p.cache.last_prices
    p.on_fill(fill("USDJPY", OrderSide.BUY, D(10_000), D("150.000"), commission=D(300)))
    assert near(p.account.commissions, D(2))
    assert near(p.balance, START - D(2))
    p.cache.last_prices["USDJPY"] = 160.0
    p.on_fill(fill("USDJPY", OrderSide.SELL, D(10_000), D("160.000")))
    assert near(p.balance, START - D(2) + D(100_000) / D(160))


def test_first_fill_of_another_jpy_instrument_still_needs_a_rate() -> None:
    p = usd_portfolio(USDJPY, TOYOTA)
    with pytest.raises(ConfigError, match="cannot convert JPY to USD"):
        p.on_fill(fill("7203", OrderSide.BUY, D(100), D(2500)))


def test_fill_that_cannot_be_converted_books_nothing() -> None:
    p = usd_portfolio(TOYOTA)
    with pytest.raises(ConfigError, match="JPY"):
        p.on_fill(fill("7203", OrderSide.BUY, D(100), D(2500)))
    # the position and the account must not be half updated
    assert all(pos.is_flat for pos in p.cache.positions.values())
    assert p.balance == START
    assert p.book == []
    assert p.unrealized_pnl() == 0


def test_fixed_rate_converts() -> None:
    p = usd_portfolio(TOYOTA, fixed={"JPY/USD": 0.0067})
    assert p.fx.rate("JPY", "USD") == D("0.0067")
    assert p.fx.rate("USD", "JPY") == 1 / D("0.0067")
    assert p.fx.fixed_rate("JPY", "USD") == D("0.0067")
    assert p.fx.fixed_rate("USD", "USD") == 1
    assert p.fx.fixed_rate("EUR", "USD") is None
    p.on_fill(fill("7203", OrderSide.BUY, D(100), D(2500), commission=D(1000)))
    p.cache.last_prices["7203"] = 2600.0
    assert near(p.account.commissions, D("6.7"))
    assert near(p.unrealized_pnl(), D(10_000) * D("0.0067"))
    p.on_fill(fill("7203", OrderSide.SELL, D(100), D(2600)))
    assert near(p.balance, START - D("6.7") + D(67))


def test_fixed_rate_given_the_other_way_round() -> None:
    p = usd_portfolio(TOYOTA, fixed={"usd/jpy": 150})
    assert p.fx.rate("JPY", "USD") == 1 / D(150)


def test_fx_price_wins_over_fixed_rate() -> None:
    p = usd_portfolio(USDJPY, TOYOTA, fixed={"JPY/USD": 0.0067})
    assert p.fx.rate("JPY", "USD") == D("0.0067")  # no USDJPY price yet
    p.cache.last_prices["USDJPY"] = 125.0
    assert p.fx.rate("JPY", "USD") == D("0.008")


def test_pair_index_follows_new_instruments() -> None:
    cache = Cache()
    cache.add_instrument(TOYOTA)
    fx = FxRates(cache)
    assert fx.source("JPY", "USD") is None
    cache.add_instrument(USDJPY)
    cache.last_prices["USDJPY"] = 200.0
    assert fx.rate("JPY", "USD") == D("0.005")
