"""Commission and slippage models, their command-line specs, and how the venue applies them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from venue_harness import BUY, SELL, Harness

from tradeloop.brokers.simulated import (
    Commission,
    NoCommission,
    NoSlippage,
    PercentSlippage,
    SimulatedVenueConfig,
    SpreadSlippage,
    TickSlippage,
    parse_commission,
    parse_slippage,
)
from tradeloop.core.errors import ConfigError
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderStatus, OrderType
from tradeloop.model.instrument import Instrument

ABC = Instrument.equity("ABC")
EURUSD = Instrument.fx_pair("EURUSD")
D = Decimal


# -- commission models -----------------------------------------------------------------------


def test_no_commission_is_free() -> None:
    assert NoCommission().fee(ABC, D(100), D(50)) == 0


def test_percent_of_notional() -> None:
    assert Commission(percent=D("0.1")).fee(ABC, D(10), D(100)) == D("1")


def test_percent_uses_the_contract_multiplier() -> None:
    future = Instrument("ES", multiplier=D(50))
    assert Commission(percent=D("0.01")).fee(future, D(2), D(5000)) == D("50")


def test_per_unit() -> None:
    assert Commission(per_unit=D("0.005")).fee(ABC, D(300), D(20)) == D("1.5")


def test_per_lot_of_100000_units_by_default() -> None:
    assert Commission(per_lot=D(7)).fee(EURUSD, D(50_000), D("1.1")) == D("3.5")


def test_per_lot_with_another_lot_size() -> None:
    assert Commission(per_lot=D(2), lot_size=D(100)).fee(ABC, D(250), D(10)) == D("5")


def test_minimum_fee_applies_to_small_fills() -> None:
    fee = Commission(per_unit=D("0.005"), minimum=D(1))
    assert fee.fee(ABC, D(10), D(100)) == D(1)
    assert fee.fee(ABC, D(1000), D(100)) == D(5)


def test_parts_add_up() -> None:
    fee = Commission(percent=D("0.1"), per_unit=D("0.01"))
    assert fee.fee(ABC, D(10), D(100)) == D("1.1")


# -- commission specs ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "  ", "0", "none", "NONE"])
def test_empty_commission_specs_mean_free(spec: str | None) -> None:
    assert parse_commission(spec) == NoCommission()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0.1%", Commission(percent=D("0.1"))),
        ("0.005/share", Commission(per_unit=D("0.005"))),
        ("0.005/unit", Commission(per_unit=D("0.005"))),
        ("0.25/contract", Commission(per_unit=D("0.25"))),
        ("7/lot", Commission(per_lot=D(7))),
        ("7/lot,lot=1000", Commission(per_lot=D(7), lot_size=D(1000))),
        ("0.1%, min=1", Commission(percent=D("0.1"), minimum=D(1))),
        ("0.005/SHARE,MIN=1", Commission(per_unit=D("0.005"), minimum=D(1))),
        ("1e-2%", Commission(percent=D("0.01"))),
    ],
)
def test_commission_specs(spec: str, expected: Commission) -> None:
    assert parse_commission(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "cannot read 'abc'"),
        ("0.1%,fast", "cannot read 'fast'"),
        ("5/foot", "cannot read '5/foot'"),
        ("1..2%", "is not a number"),
        ("-1%", "must be a finite number >= 0"),
        ("min=-3", "must be a finite number >= 0"),
        ("7/lot,lot=0", "lot size must be positive"),
    ],
)
def test_bad_commission_specs_explain_themselves(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="commission") as info:
        parse_commission(spec)
    assert message in str(info.value)
    assert repr(spec) in str(info.value)


def test_unreadable_commission_lists_the_accepted_forms() -> None:
    with pytest.raises(ConfigError, match=r"0\.1%, 0\.005/share, 7/lot"):
        parse_commission("ten dollars")


# -- slippage models and specs ---------------------------------------------------------------


def test_tick_slippage_is_adverse_by_side() -> None:
    model = TickSlippage(2)
    assert model.apply(ABC, BUY, D("100"), None) == D("100.02")
    assert model.apply(ABC, SELL, D("100"), None) == D("99.98")


def test_percent_slippage_is_adverse_and_rounded_to_the_tick() -> None:
    model = PercentSlippage(D("0.05"))
    assert model.apply(ABC, BUY, D("100"), None) == D("100.05")
    assert model.apply(ABC, SELL, D("100"), None) == D("99.95")
    assert model.apply(ABC, BUY, D("33.33"), None) == D("33.35")


def test_spread_slippage_takes_the_far_side_of_the_quote() -> None:
    quote = QuoteTick("ABC", 0, 99.9, 100.1)
    assert SpreadSlippage().apply(ABC, BUY, D("100"), quote) == D("100.1")
    assert SpreadSlippage().apply(ABC, SELL, D("100"), quote) == D("99.9")
    assert SpreadSlippage().apply(ABC, BUY, D("100"), None) == D("100")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, NoSlippage()), ("", NoSlippage()), ("none", NoSlippage()), ("0", NoSlippage()),
        ("2ticks", TickSlippage(2)), ("1 tick", TickSlippage(1)), ("3TICKS", TickSlippage(3)),
        ("0.05%", PercentSlippage(D("0.05"))), ("spread", SpreadSlippage()),
        (" Spread ", SpreadSlippage()),
    ],
)
def test_slippage_specs(spec: str | None, expected: object) -> None:
    assert parse_slippage(spec) == expected


@pytest.mark.parametrize("spec", ["2.5ticks", "fast", "ticks", "-1%", "5"])
def test_bad_slippage_specs_raise_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="slippage"):
        parse_slippage(spec)


# -- the venue charges and slips -------------------------------------------------------------


def test_fill_carries_the_commission_and_the_account_pays_it() -> None:
    h = Harness(SimulatedVenueConfig(commission=parse_commission("0.1%,min=2")))
    balance = h.kernel.portfolio.balance
    order = h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    (fill,) = h.fills(order)
    assert fill.commission == D("2")  # 1.00 of notional, raised to the minimum
    assert fill.commission_currency == "USD"
    assert order.commission == D("2")
    assert h.kernel.portfolio.balance == balance - 2


def test_each_partial_fill_is_charged() -> None:
    config = SimulatedVenueConfig(commission=parse_commission("0.01/share,min=1"),
                                  volume_limit=0.5)
    h = Harness(config)
    order = h.send(BUY, 300)
    h.bar(100, 101, 99, 100.5, volume=400)
    h.bar(100, 101, 99, 100.5, volume=400)
    assert [f.commission for f in h.fills(order)] == [D(2), D(1)]
    assert order.commission == D(3)


@pytest.mark.parametrize(
    ("side", "expected"), [(BUY, D("100.02")), (SELL, D("99.98"))], ids=["buy", "sell"]
)
def test_market_fills_are_slipped_against_the_taker(side: object, expected: Decimal) -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("2ticks")))
    order = h.send(side, 1)  # type: ignore[arg-type]
    h.bar(100, 101, 99, 100.5)
    assert order.avg_px == expected


def test_stop_and_mit_fills_are_slipped() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("1tick")))
    stop = h.send(BUY, 1, trigger=108)
    mit = h.send(BUY, 1, order_type=OrderType.MARKET_IF_TOUCHED, trigger=97)
    h.bar(100, 110, 95, 105)
    assert stop.avg_px == D("108.01")
    assert mit.avg_px == D("97.01")


def test_limit_and_stop_limit_fills_are_not_slipped() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("5ticks")))
    limit = h.send(BUY, 1, price=97)
    gap = h.send(SELL, 1, price=99)
    stop_limit = h.send(BUY, 1, trigger=108, price=109)
    h.bar(100, 110, 95, 105)
    assert limit.avg_px == D("97")
    assert gap.avg_px == D("100")
    assert stop_limit.avg_px == D("108")


def test_commission_is_on_the_slipped_price() -> None:
    h = Harness(SimulatedVenueConfig(commission=parse_commission("1%"),
                                     slippage=parse_slippage("0.5%")))
    order = h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    assert order.avg_px == D("100.5")
    assert order.commission == D("10.05")


def test_percent_slippage_at_the_venue() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("0.05%")))
    order = h.send(SELL, 1)
    h.bar(100, 101, 99, 100.5)
    assert order.avg_px == D("99.95")


def test_quotes_fill_buys_at_the_ask_and_sells_at_the_bid() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("spread")))
    buy = h.send(BUY, 1)
    sell = h.send(SELL, 1)
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.9, 100.1, 500, 500))
    assert buy.avg_px == D("100.1")
    assert sell.avg_px == D("99.9")


def test_limit_fills_against_quotes_are_not_slipped() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("spread")))
    order = h.send(BUY, 1, price=100.05)
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.9, 100.1, 500, 500))
    assert order.status is OrderStatus.ACCEPTED
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.95, 100.0, 500, 500))
    assert order.avg_px == D("100")


def test_spread_slippage_uses_the_latest_quote_for_bar_fills() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("spread")))
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.9, 100.1))
    order = h.send(SELL, 1)
    h.bar(100, 101, 99, 100.5)
    assert order.avg_px == D("99.9")


def test_spread_slippage_without_quotes_changes_nothing() -> None:
    h = Harness(SimulatedVenueConfig(slippage=parse_slippage("spread")))
    order = h.send(BUY, 1)
    h.bar(100, 101, 99, 100.5)
    assert order.avg_px == D("100")


def test_quote_sizes_limit_fills_under_a_volume_limit() -> None:
    # A buy takes the ask's size, a sell the bid's.
    h = Harness(SimulatedVenueConfig(volume_limit=1.0))
    h.send(SELL, 10)
    h.bar(100, 100, 100, 100)
    buy = h.send(BUY, 10)
    sell = h.send(SELL, 10)
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.9, 100.1, 3, 4))
    assert buy.filled_qty == 4
    assert sell.filled_qty == 3


def test_quote_without_sizes_fills_any_size() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.5))
    order = h.send(BUY, 1000)
    h.venue.process_quote(QuoteTick(h.symbol, h.clock.now_ns(), 99.9, 100.1))
    assert order.status is OrderStatus.FILLED


def test_trade_prints_fill_orders(h: Harness) -> None:
    order = h.send(BUY, 2, price=99)
    h.venue.process_trade(h.symbol, h.clock.now_ns(), 99.5, 100)
    assert order.status is OrderStatus.ACCEPTED
    h.venue.process_trade(h.symbol, h.clock.now_ns(), 98.5, 100)
    assert order.avg_px == D("98.5")
