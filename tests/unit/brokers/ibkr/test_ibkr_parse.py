"""IB's records in our terms: exact Decimals, statuses, reports of trades, fills, positions
and account values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from ib_async import (
    AccountValue,
    CommissionReport,
    Execution,
    Fill,
    Future,
    LimitOrder,
    Order,
    OrderStatus,
    Position,
    Stock,
    Trade,
)
from ib_async.objects import BarData, RealTimeBar, TradeLogEntry

from tradeloop.brokers.ibkr import parse
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce
from tradeloop.model.enums import OrderStatus as S

WHEN = dt.datetime(2026, 1, 5, 14, 30, 0, 250_000, tzinfo=dt.UTC)
NS = 1_767_623_400_250_000_000


@pytest.mark.parametrize(("value", "text"), [
    (100.0, "100"), (0.1, "0.1"), (5e-05, "0.00005"), (1.0035, "1.0035"), (Decimal("2E+1"), "20"),
    ("12.50", "12.5"), (3, "3")])
def test_plain_decimals(value: float | Decimal | str | int, text: str) -> None:
    assert str(parse.plain(value)) == text


def test_prices_take_the_ticks_places() -> None:
    assert str(parse.price(150.1 + 0.2, Decimal("0.01"))) == "150.30"
    assert str(parse.price(4512.25, Decimal("0.25"))) == "4512.25"
    assert str(parse.price(1.08505, Decimal("0.00005"))) == "1.08505"
    assert parse.places(Decimal("1")) == 0 and parse.places(None) == 8


def test_unset_values() -> None:
    assert not parse.is_set(parse.UNSET) and not parse.is_set(None)
    assert not parse.is_set(float("nan")) and parse.is_set(0.0) and parse.is_set(Decimal(3))


def test_times_in_utc_nanoseconds() -> None:
    assert parse.ts_ns(WHEN) == NS
    assert parse.ts_ns(WHEN.replace(tzinfo=None)) == NS
    assert parse.ts_ns(dt.date(2026, 1, 5)) == 1_767_571_200 * 10**9
    assert parse.ts_ns(None) == 0


@pytest.mark.parametrize(("ib", "filled", "rejected", "ours"), [
    ("PreSubmitted", 0, False, S.ACCEPTED), ("Submitted", 0, False, S.ACCEPTED),
    ("Submitted", 5, False, S.PARTIALLY_FILLED), ("Filled", 10, False, S.FILLED),
    ("Cancelled", 0, False, S.CANCELED), ("Cancelled", 0, True, S.REJECTED),
    ("Cancelled", 5, True, S.CANCELED), ("ApiCancelled", 0, False, S.CANCELED),
    ("Inactive", 0, False, S.REJECTED), ("Inactive", 3, False, S.CANCELED),
    ("PendingCancel", 0, False, S.ACCEPTED)])
def test_statuses(ib: str, filled: int, rejected: bool, ours: S) -> None:
    assert parse.status(ib, Decimal(filled), rejected) is ours


def trade(order: Order, status: str = "Submitted", filled: float = 0.0) -> Trade:
    order.orderId, order.permId, order.orderRef = 7, 1001, "CID-1"
    return Trade(Stock("AAPL", "SMART", "USD"), order,
                 OrderStatus(orderId=7, status=status, filled=filled,
                             remaining=order.totalQuantity - filled),
                 [], [TradeLogEntry(WHEN, "PendingSubmit")])


def fill(exec_id: str, shares: float, price: float, commission: float | None = 1.25) -> Fill:
    execution = Execution(execId=exec_id, time=WHEN, side="BOT", shares=shares, price=price,
                          permId=1001, orderId=7, orderRef="CID-1", acctNumber="DU1")
    report = CommissionReport(execId=exec_id, commission=commission, currency="USD") \
        if commission is not None else CommissionReport()
    return Fill(Stock("AAPL", "SMART", "USD"), execution, report, WHEN)


def test_a_trade_as_a_report() -> None:
    order = LimitOrder("BUY", 10, 150.25, tif="GTC")
    fills = [parse.fill_report(fill("e1", 4, 150.25), "AAPL", Decimal("0.01")),
             parse.fill_report(fill("e2", 6, 150.2), "AAPL", Decimal("0.01"))]
    report = parse.order_report(trade(order, "Submitted", 10), "AAPL", Decimal("0.01"), fills)
    assert (report.client_order_id, report.venue_order_id, report.symbol, report.side,
            report.order_type, report.quantity, report.filled_qty, report.status,
            report.price, report.time_in_force) == (
        "CID-1", "7", "AAPL", OrderSide.BUY, OrderType.LIMIT, Decimal(10), Decimal(10),
        S.FILLED, Decimal("150.25"), TimeInForce.GTC)
    assert report.avg_px == Decimal("150.22")
    assert report.ts_accepted == NS


def test_a_rejected_trade_carries_ib_s_reason() -> None:
    t = trade(Order(action="SELL", totalQuantity=1, orderType="STP", auxPrice=140.0),
              "Cancelled")
    t.log.append(TradeLogEntry(WHEN, "Cancelled", "Order rejected - reason: margin", 201))
    assert parse.last_error(t) == (201, "Order rejected - reason: margin")
    report = parse.order_report(t, "AAPL", Decimal("0.01"))
    assert (report.status, report.order_type, report.trigger_price, report.side) == (
        S.REJECTED, OrderType.STOP, Decimal("140.00"), OrderSide.SELL)
    assert report.reason == "IB error 201: Order rejected - reason: margin"


def test_trailing_and_touched_orders_in_reports() -> None:
    trail = parse.order_report(trade(Order(action="SELL", totalQuantity=1, orderType="TRAIL",
                                           auxPrice=2.0, trailStopPrice=148.0)), "AAPL",
                               Decimal("0.01"))
    assert (trail.order_type, trail.trigger_price) == (OrderType.TRAILING_STOP,
                                                       Decimal("148.00"))
    mit = parse.order_report(trade(Order(action="BUY", totalQuantity=1, orderType="MIT",
                                         auxPrice=145.5)), "AAPL", Decimal("0.01"))
    assert (mit.order_type, mit.trigger_price, mit.price) == (
        OrderType.MARKET_IF_TOUCHED, Decimal("145.50"), None)


def test_fills_with_and_without_their_commission() -> None:
    report = parse.fill_report(fill("e1", 4, 150.25), "AAPL", Decimal("0.01"))
    assert (report.trade_id, report.client_order_id, report.venue_order_id, report.side,
            report.quantity, report.price, report.commission, report.commission_currency,
            report.ts) == ("e1", "CID-1", "7", OrderSide.BUY, Decimal(4), Decimal("150.25"),
                           Decimal("1.25"), "USD", NS)
    bare = parse.fill_report(fill("e2", 1, 150.0, None), "AAPL", Decimal("0.01"))
    assert (bare.commission, bare.commission_currency) == (Decimal(0), "")
    later = parse.fill_report(fill("e2", 1, 150.0, None), "AAPL", Decimal("0.01"),
                              commission_of=fill("e2", 1, 150.0, 0.35))
    assert later.commission == Decimal("0.35")
    assert parse.client_order_id("", 55) == "IB-55"


def test_positions_net_per_symbol_with_ib_s_average_cost() -> None:
    es = Future("ES", "20261218", "CME", multiplier="50")
    rows = [(Position("DU1", es, 2.0, 225_600.0), Decimal(50)),
            (Position("DU1", es, 1.0, 226_000.0), Decimal(50))]
    report = parse.position_report("ES", rows, Decimal("0.25"))
    assert report is not None and report.quantity == Decimal(3)
    assert report.avg_px == Decimal("4514.67")
    assert parse.position_report("ES", [(Position("DU1", es, 0.0, 0.0), Decimal(50))],
                                 None) is None


def test_account_values_in_the_base_currency() -> None:
    values = [AccountValue("DU1", "NetLiquidation", "1002500.50", "USD", ""),
              AccountValue("DU1", "TotalCashValue", "1000000", "USD", ""),
              AccountValue("DU1", "TotalCashValue", "1000000", "BASE", ""),
              AccountValue("DU1", "AvailableFunds", "900000", "USD", ""),
              AccountValue("DU1", "MaintMarginReq", "1250.25", "USD", ""),
              AccountValue("DU1", "AccountType", "INDIVIDUAL", "", ""),
              AccountValue("DU2", "NetLiquidation", "5", "EUR", "")]
    base, found = parse.account_values(values, "DU1")
    assert base == "USD" and found["AvailableFunds"] == Decimal(900_000)
    report = parse.account_report(values, "DU1", 42)
    assert (report.account_id, report.currency, report.balance, report.equity,
            report.margin_used, report.ts) == ("DU1", "USD", Decimal(1_000_000),
                                               Decimal("1002500.5"), Decimal("1250.25"), 42)
    assert parse.account_report([], "DU1", 0).currency == ""


def test_bars_of_history_and_real_time() -> None:
    daily = BarData(date=dt.date(2026, 1, 5), open=1, high=2, low=0.5, close=1.5, volume=-1)
    intraday = BarData(date=WHEN, open=1, high=2, low=0.5, close=1.5, volume=300)
    live = RealTimeBar(time=WHEN, open_=1, high=2, low=0.5, close=1.5, volume=7)
    assert parse.bar_rows([daily, intraday, live]) == [
        (1_767_571_200 * 10**9, 1.0, 2.0, 0.5, 1.5, 0.0), (NS, 1.0, 2.0, 0.5, 1.5, 300.0),
        (NS, 1.0, 2.0, 0.5, 1.5, 7.0)]
