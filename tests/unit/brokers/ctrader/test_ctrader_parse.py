"""cTrader records in our terms: trendbar deltas, volumes in cents, scaled prices and money,
order and deal reports, net positions of a hedging account, instruments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader import parse
from tradeloop.brokers.ctrader.parse import SymbolInfo
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce

EURUSD = SymbolInfo(1, "EURUSD", 5, 4, 100_000, 100_000, 10**10, 10_000_000, "EUR", "USD")
USDJPY = SymbolInfo(3, "USDJPY", 3, 2, 100_000, 100_000, 10**10, 10_000_000, "USD", "JPY")
XAUUSD = SymbolInfo(9, "XAUUSD", 2, 1, 1, 1, 10**8, 100, "XAU", "USD")


def test_a_trendbar_is_its_low_plus_the_deltas() -> None:
    bar = {"low": 108_500, "deltaOpen": 5, "deltaHigh": 20, "deltaClose": 12, "volume": 61,
           "utcTimestampInMinutes": 29_000_000}
    assert parse.trendbar_row(bar, 5) == (29_000_000 * 60 * 10**9, 1.08505, 1.0852, 1.085,
                                          1.08512, 61.0)


def test_a_trendbar_of_a_three_digit_symbol_and_one_without_deltas() -> None:
    bar = {"low": 15_012_300, "deltaOpen": 1_000, "deltaHigh": 3_500, "deltaClose": 0,
           "utcTimestampInMinutes": 1}
    assert parse.trendbar_row(bar, 3) == (60 * 10**9, 150.133, 150.158, 150.123, 150.123, 0.0)
    flat = {"low": 100_000, "utcTimestampInMinutes": 2}
    assert parse.trendbar_row(flat, 5)[1:5] == (1.0, 1.0, 1.0, 1.0)


def test_volumes_are_cents_of_a_unit() -> None:
    assert parse.volume_to_quantity(100_000) == Decimal(1000)
    assert str(parse.volume_to_quantity(150)) == "1.5"
    assert parse.quantity_to_volume(Decimal("1000")) == 100_000
    assert parse.quantity_to_volume(Decimal("0.01")) == 1
    with pytest.raises(ValueError, match="finer than"):
        parse.quantity_to_volume(Decimal("0.001"))


def test_prices_money_and_times() -> None:
    assert parse.scaled_price(108_505, 5) == Decimal("1.08505")
    assert parse.scaled_price(15_012_345, 3) == Decimal("150.123")
    assert parse.price(1.1, 5) == Decimal("1.10000")
    assert parse.price(0.1 + 0.2, 2) == Decimal("0.30")
    assert parse.money(10_053_099_944, 8) == Decimal("100.53099944")
    assert parse.money(-12345, 2) == Decimal("-123.45")
    assert parse.to_relative(Decimal("0.0020")) == 200
    assert parse.ms_to_ns(1_700_000_000_123) == 1_700_000_000_123_000_000
    assert parse.ms_to_ns(None) == 0


def test_a_stop_limit_price_is_the_stop_moved_by_its_points() -> None:
    assert parse.limit_of_stop_limit(Decimal("1.10000"), 10, OrderSide.BUY, EURUSD) \
        == Decimal("1.10010")
    assert parse.limit_of_stop_limit(Decimal("1.10000"), 10, OrderSide.SELL, EURUSD) \
        == Decimal("1.09990")
    assert parse.points_between(Decimal("1.1"), Decimal("1.10010"), OrderSide.BUY,
                                EURUSD) == 10
    with pytest.raises(ValueError, match="at or above"):
        parse.points_between(Decimal("1.1"), Decimal("1.09"), OrderSide.BUY, EURUSD)
    with pytest.raises(ValueError, match="whole number of points"):
        parse.points_between(Decimal("150"), Decimal("150.0005"), OrderSide.BUY, USDJPY)


def _order(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "orderId": 77, "clientOrderId": "C1",
        "tradeData": {"symbolId": 1, "volume": 300_000, "tradeSide": m.TradeSide.SELL,
                      "openTimestamp": 1_700_000_000_000},
        "orderType": m.OrderType.LIMIT, "orderStatus": m.OrderStatus.ORDER_STATUS_ACCEPTED,
        "limitPrice": 1.2, "timeInForce": m.TimeInForce.GOOD_TILL_DATE,
        "utcLastUpdateTimestamp": 1_700_000_001_000}
    base.update(over)
    return base


def test_order_reports_of_each_type_and_status() -> None:
    report = parse.order_report(_order(), EURUSD)
    assert (report.client_order_id, report.venue_order_id, report.side, report.order_type,
            report.quantity, report.price, report.status, report.time_in_force) == (
        "C1", "77", OrderSide.SELL, OrderType.LIMIT, Decimal(3000), Decimal("1.20000"),
        OrderStatus.ACCEPTED, TimeInForce.GTD)
    assert report.ts_accepted == 1_700_000_000_000 * 10**6
    assert report.ts_last == 1_700_000_001_000 * 10**6
    part = parse.order_report(_order(executedVolume=100_000, executionPrice=1.2), EURUSD)
    assert (part.status, part.filled_qty, part.avg_px) == (
        OrderStatus.PARTIALLY_FILLED, Decimal(1000), Decimal("1.20000"))
    stop_limit = parse.order_report(_order(orderType=m.OrderType.STOP_LIMIT, stopPrice=1.1,
                                           slippageInPoints=25), EURUSD)
    assert (stop_limit.order_type, stop_limit.trigger_price, stop_limit.price) == (
        OrderType.STOP_LIMIT, Decimal("1.10000"), Decimal("1.09975"))
    for status, ours in ((m.OrderStatus.ORDER_STATUS_FILLED, OrderStatus.FILLED),
                         (m.OrderStatus.ORDER_STATUS_CANCELLED, OrderStatus.CANCELED),
                         (m.OrderStatus.ORDER_STATUS_EXPIRED, OrderStatus.EXPIRED),
                         (m.OrderStatus.ORDER_STATUS_REJECTED, OrderStatus.REJECTED)):
        assert parse.order_report(_order(orderStatus=status), EURUSD).status is ours
    anonymous = parse.order_report(_order(clientOrderId=None), EURUSD)
    assert anonymous.client_order_id == "CT-77"


def _deal(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "dealId": 9, "orderId": 77, "positionId": 5, "volume": 100_000,
        "filledVolume": 100_000, "symbolId": 1, "executionTimestamp": 1_700_000_002_000,
        "executionPrice": 1.08502, "tradeSide": m.TradeSide.BUY,
        "dealStatus": m.DealStatus.FILLED, "commission": -3, "moneyDigits": 2}
    base.update(over)
    return base


def test_deals_become_fills_and_order_reports_average_them() -> None:
    fill = parse.fill_report(_deal(), EURUSD, "C1", "USD")
    assert fill is not None
    assert (fill.trade_id, fill.venue_order_id, fill.side, fill.quantity, fill.price,
            fill.commission, fill.commission_currency) == (
        "9", "77", OrderSide.BUY, Decimal(1000), Decimal("1.08502"), Decimal("0.03"), "USD")
    assert parse.fill_report(_deal(dealStatus=m.DealStatus.REJECTED), EURUSD, "C1") is None
    assert parse.fill_report(_deal(filledVolume=0), EURUSD, "C1") is None
    other = parse.fill_report(_deal(dealId=10, executionPrice=1.08512), EURUSD, "C1")
    assert other is not None
    report = parse.order_report(_order(orderStatus=m.OrderStatus.ORDER_STATUS_FILLED),
                                EURUSD, [fill, other])
    assert report.filled_qty == Decimal(2000) and report.avg_px == Decimal("1.08507")


def _position(pid: int, side: int, volume: int, price: float, symbol: int = 1
              ) -> dict[str, object]:
    return {"positionId": pid, "positionStatus": m.PositionStatus.POSITION_STATUS_OPEN,
            "tradeData": {"symbolId": symbol, "volume": volume, "tradeSide": side},
            "price": price, "utcLastUpdateTimestamp": pid}


def test_a_hedging_accounts_positions_are_netted_per_symbol() -> None:
    buy, sell = m.TradeSide.BUY, m.TradeSide.SELL
    reports = parse.position_reports([
        _position(1, buy, 300_000, 1.1), _position(2, sell, 100_000, 1.2),
        _position(3, buy, 100_000, 1.1, 3), _position(4, buy, 300_000, 1.3, 3),
        _position(5, sell, 100_000, 1.0, 2), _position(6, buy, 100_000, 1.0, 2),
        {**_position(7, buy, 100_000, 1.0), "positionStatus": 2},
    ], {1: EURUSD, 3: USDJPY, 2: EURUSD})
    by_symbol = {r.symbol: r for r in reports}
    assert set(by_symbol) == {"EURUSD", "USDJPY"}  # the flat pair of symbol 2 is left out
    assert by_symbol["EURUSD"].quantity == Decimal(2000)
    assert by_symbol["EURUSD"].avg_px is None  # a long and a short: no single price
    assert by_symbol["USDJPY"].quantity == Decimal(4000)
    assert by_symbol["USDJPY"].avg_px == Decimal("1.250")


def test_instruments_from_symbols() -> None:
    fx = parse.instrument(EURUSD, "CTRADER", parse.margin_rate(3000))
    assert (fx.asset_class, fx.base_currency, fx.quote_currency, fx.tick_size, fx.lot_step,
            fx.min_quantity) == (AssetClass.FX, "EUR", "USD", Decimal("0.00001"),
                                 Decimal(1000), Decimal(1000))
    assert fx.margin_rate == Decimal("0.03333333")
    gold = parse.instrument(XAUUSD, "CTRADER")
    assert (gold.asset_class, gold.tick_size, gold.lot_step) == (
        AssetClass.CFD, Decimal("0.01"), Decimal("0.01"))
    assert parse.margin_rate(0) == 1 and parse.margin_rate(50) == 1
    assert parse.margin_rate(5000) == Decimal("0.02")


def test_the_account_report_is_in_the_deposit_currency() -> None:
    report = parse.account_report({"ctidTraderAccountId": 5, "balance": 1_234_567,
                                   "moneyDigits": 2}, "USD", None, Decimal(3), 1)
    assert (report.account_id, report.currency, report.balance, report.equity,
            report.margin_used) == ("5", "USD", Decimal("12345.67"), Decimal("12345.67"),
                                    Decimal(3))
    assert report.leverage is None  # not said
    leveraged = parse.account_report({"ctidTraderAccountId": 5, "balance": 100,
                                      "leverageInCents": 5000}, "USD", None, Decimal(0), 1)
    assert leveraged.leverage == 50  # 1:50
