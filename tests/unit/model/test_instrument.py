"""Instruments: tick and lot arithmetic, FX and equity guesses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument, to_decimal

D = Decimal


def test_to_decimal_uses_shortest_repr() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert str(to_decimal(0.1 + 0.2)) == "0.30000000000000004"
    assert to_decimal(5) == D(5)
    assert to_decimal("1.25") == D("1.25")
    value = D("3.14")
    assert to_decimal(value) is value


@pytest.mark.parametrize(
    ("tick", "value", "expected"),
    [
        ("0.01", "101.234", "101.23"),
        ("0.01", "101.236", "101.24"),
        ("0.01", 0.1 + 0.2, "0.3"),
        ("0.05", "10.02", "10"),
        ("0.05", "10.03", "10.05"),
        ("0.25", "99.88", "100"),
        ("0.25", "99.87", "99.75"),
        ("0.5", "7.2", "7"),
        ("0.00001", "1.234567", "1.23457"),
        ("0.001", 151.2344, "151.234"),
        ("5", "1237", "1235"),
        ("5", "1238", "1240"),
        ("0.01", "0.004", "0"),
    ],
)
def test_make_price_rounds_to_nearest_tick(tick: str, value: object, expected: str) -> None:
    inst = Instrument("X", tick_size=D(tick))
    price = inst.make_price(value)  # type: ignore[arg-type]
    assert price == D(expected)
    assert inst.is_price_on_tick(price)


def test_make_price_exact_halves_round_to_even_tick() -> None:
    inst = Instrument("X", tick_size=D("0.01"))
    assert inst.make_price("1.005") == D("1.00")
    assert inst.make_price("1.015") == D("1.02")


@settings(max_examples=200)
@given(value=st.floats(0.0001, 1e6, allow_nan=False), tick=st.sampled_from(
    ["0.01", "0.05", "0.25", "0.00001", "1", "5"]))
def test_a_float_price_rounds_as_its_decimal_and_the_same_each_time(value: float, tick: str
                                                                   ) -> None:
    """Float prices are converted and rounded once and then remembered (market data repeats
    them): a remembered answer is the one the Decimal of the float's repr gives."""
    inst = Instrument("X", tick_size=D(tick))
    expected = inst.make_price(D(repr(value)))
    assert inst.make_price(value) == expected
    assert inst.make_price(value) == expected
    assert str(inst.make_price(value)) == str(expected)
    assert to_decimal(value) == D(repr(value))


def test_remembered_prices_do_not_mix_tick_sizes_or_the_two_zeros() -> None:
    cents, nickels = Instrument("X", tick_size=D("0.01")), Instrument("Y", tick_size=D("0.05"))
    assert str(cents.make_price(10.03)) == "10.03"
    assert str(nickels.make_price(10.03)) == "10.05"
    assert str(cents.make_price(10.03)) == "10.03"
    assert str(to_decimal(-0.0)) == "-0.0" and str(to_decimal(0.0)) == "0.0"
    assert str(to_decimal(-0.0)) == "-0.0"


def test_remembered_conversions_stay_bounded() -> None:
    import tradeloop.model.instrument as module

    inst = Instrument("X", tick_size=D("0.01"))
    for k in range(70_000):
        price = 1_000 + k / 100
        assert inst.make_price(price) == inst.make_price(D(repr(price)))
    assert 0 < len(module._DECIMALS) <= 65_536
    assert all(0 < len(kept) <= 65_536 for kept in module._ROUNDED.values())


@pytest.mark.parametrize(
    ("lot", "value", "expected"),
    [
        ("1", "10.99", "10"),
        ("1", 7, "7"),
        ("100", "250", "200"),
        ("100", "99", "0"),
        ("0.001", "0.123456", "0.123"),
        ("0.001", 0.1 + 0.2, "0.3"),
        ("0.5", "2.99", "2.5"),
        ("1000", "1999.99", "1000"),
    ],
)
def test_make_quantity_rounds_down_to_lot_step(lot: str, value: object, expected: str) -> None:
    inst = Instrument("X", lot_step=D(lot))
    assert inst.make_quantity(value) == D(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "step", "value", "text"),
    [
        ("make_quantity", "1", 100, "100"),
        ("make_quantity", "100", "250", "200"),
        ("make_quantity", "0.001", "1.2", "1.2"),
        ("make_price", "0.01", 100, "100"),
        ("make_price", "0.001", "150.0004", "150"),
        ("make_price", "5", "1238", "1240"),
        ("make_price", "0.01", "101.50", "101.5"),
    ],
)
def test_rounded_values_print_plainly(method: str, step: str, value: object, text: str) -> None:
    """Rounded values go into orders, logs and reports: 100 shares must not print as 1E+2."""
    inst = Instrument("X", tick_size=D(step), lot_step=D(step))
    result = getattr(inst, method)(value)
    assert str(result) == text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    ticks=st.integers(min_value=1, max_value=10**7),
    offset=st.decimals(min_value=D("-0.4999"), max_value=D("0.4999"), places=4),
    tick=st.sampled_from([D("0.01"), D("0.05"), D("0.25"), D("0.00001"), D("0.001"), D(1)]),
)
def test_make_price_property(ticks: int, offset: Decimal, tick: Decimal) -> None:
    inst = Instrument("X", tick_size=tick)
    value = (ticks + offset) * tick
    price = inst.make_price(value)
    assert price == ticks * tick
    assert abs(price - value) <= tick / 2
    assert inst.is_price_on_tick(price)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    value=st.decimals(min_value=0, max_value=10**6, places=6),
    lot=st.sampled_from([D("0.001"), D("0.01"), D(1), D(10), D(100), D("0.5")]),
)
def test_make_quantity_property(value: Decimal, lot: Decimal) -> None:
    qty = Instrument("X", lot_step=lot).make_quantity(value)
    assert qty <= value
    assert value - qty < lot
    assert qty % lot == 0


def test_fx_pair() -> None:
    eurusd = Instrument.fx_pair("EURUSD")
    assert (eurusd.base_currency, eurusd.quote_currency) == ("EUR", "USD")
    assert eurusd.asset_class is AssetClass.FX
    assert eurusd.tick_size == D("0.00001")
    usdjpy = Instrument.fx_pair("usdjpy")
    assert (usdjpy.base_currency, usdjpy.quote_currency) == ("USD", "JPY")
    assert usdjpy.tick_size == D("0.001")


@pytest.mark.parametrize(
    ("symbol", "decimals", "base", "quote", "tick"),
    [
        ("EURUSD", 5, "EUR", "USD", "0.00001"),
        ("EURUSD", 2, "EUR", "USD", "0.00001"),
        ("EUR/USD", 5, "EUR", "USD", "0.00001"),
        ("EUR_USD", 5, "EUR", "USD", "0.00001"),
        ("GBPUSD", 6, "GBP", "USD", "0.000001"),
        ("USDJPY", 3, "USD", "JPY", "0.001"),
        ("USDJPY", 2, "USD", "JPY", "0.001"),
        ("eurjpy", 3, "EUR", "JPY", "0.001"),
    ],
)
def test_guess_fx(symbol: str, decimals: int, base: str, quote: str, tick: str) -> None:
    inst = Instrument.guess(symbol, decimals)
    assert inst.symbol == symbol
    assert inst.asset_class is AssetClass.FX
    assert (inst.base_currency, inst.quote_currency) == (base, quote)
    assert inst.tick_size == D(tick)
    assert inst.margin_rate == D("0.0333")


@pytest.mark.parametrize(
    ("symbol", "decimals", "tick"),
    [
        ("AAPL", 2, "0.01"),
        ("AAPL", 0, "0.01"),
        ("AAPL", 1, "0.01"),
        ("PENNY", 4, "0.0001"),
        ("BTCUSDT", 8, "0.00000001"),
        ("BTCUSDT", 12, "0.00000001"),
        ("EURXYZ", 5, "0.00001"),  # not two ISO currencies: an equity
        ("ABCDEF", 3, "0.001"),
    ],
)
def test_guess_equity_tick_from_decimals(symbol: str, decimals: int, tick: str) -> None:
    inst = Instrument.guess(symbol, decimals)
    assert inst.asset_class is AssetClass.EQUITY
    assert inst.quote_currency == "USD"
    assert inst.tick_size == D(tick)
    assert inst.lot_step == 1


def test_equity_constructor_and_notional() -> None:
    inst = Instrument.equity("7203.T", currency="JPY", venue="TSE")
    assert (inst.base_currency, inst.quote_currency, inst.venue) == ("JPY", "JPY", "TSE")
    fut = Instrument("ES", asset_class=AssetClass.FUTURE, tick_size=D("0.25"),
                     multiplier=D(50))
    assert fut.notional(D(2), D("4000.25")) == D("400025")


@pytest.mark.parametrize(
    "fields",
    [
        {"tick_size": D(0)},
        {"lot_step": D("-1")},
        {"multiplier": D(0)},
        {"min_quantity": D(-1)},
        {"margin_rate": D(0)},
        {"margin_rate": D("1.5")},
    ],
)
def test_invalid_instrument_raises(fields: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError, match="BAD"):
        Instrument("BAD", **fields)  # type: ignore[arg-type]
