"""Fyers' payloads in our terms (IST times to UTC at the edge) and our orders in Fyers'."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradeloop.brokers.fyers import parse
from tradeloop.brokers.fyers.errors import FyersFatalError
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order

ENTRY = {
    "id": "23030900015105", "qty": 10, "remainingQuantity": 4, "filledQty": 6,
    "limitPrice": 6.95, "stopPrice": 0, "tradedPrice": 6.9, "type": 1, "symbol": "NSE:IDEA-EQ",
    "message": "", "orderDateTime": "09-Mar-2023 09:34:38", "orderValidity": "DAY",
    "productType": "CNC", "side": -1, "status": 6, "orderTag": "1:Ordertag",
}


def _order(kind: OrderType = OrderType.LIMIT, **fields: object) -> Order:
    values: dict[str, object] = {"price": Decimal("800.05") if kind in (
        OrderType.LIMIT, OrderType.STOP_LIMIT) else None, "quantity": Decimal(5)}
    values.update(fields)
    return Order("CF1", "S", "NSE:SBIN-EQ", OrderSide.BUY, kind, ts_init=0,
                 **values)  # type: ignore[arg-type]


def test_ist_text_and_epochs_become_utc_nanoseconds() -> None:
    expected = int(dt.datetime(2023, 3, 9, 4, 4, 38, tzinfo=dt.UTC).timestamp()) * 10**9
    assert parse.ist_ns("09-Mar-2023 09:34:38") == expected
    assert parse.ist_ns("09-03-2023 09:34:38") == expected
    assert parse.ist_ns(1678334678) == expected == parse.ist_ns("1678334678")
    assert parse.ist_ns("") == 0 == parse.ist_ns("soon")


def test_an_order_book_entry_becomes_a_report() -> None:
    report = parse.order_report(ENTRY, "ours")
    assert (report.client_order_id, report.venue_order_id, report.side, report.order_type) == (
        "ours", "23030900015105", OrderSide.SELL, OrderType.LIMIT)
    assert (report.quantity, report.filled_qty, report.avg_px, report.price) == (
        10, 6, Decimal("6.9"), Decimal("6.95"))
    assert report.status is OrderStatus.PARTIALLY_FILLED and report.is_open
    assert report.trigger_price is None and report.time_in_force is TimeInForce.DAY
    assert report.ts_accepted == parse.ist_ns("09-Mar-2023 09:34:38")


@pytest.mark.parametrize(("status", "filled", "ours"), [
    (6, 0, OrderStatus.ACCEPTED), (4, 0, OrderStatus.ACCEPTED), (2, 10, OrderStatus.FILLED),
    (1, 3, OrderStatus.CANCELED), (5, 0, OrderStatus.REJECTED), (7, 0, OrderStatus.EXPIRED),
])
def test_fyers_statuses(status: int, filled: int, ours: OrderStatus) -> None:
    report = parse.order_report({**ENTRY, "status": status, "filledQty": filled,
                                 "message": "RMS: no margin"}, "x")
    assert report.status is ours
    assert report.reason == ("RMS: no margin" if ours in (
        OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED) else "")


def test_a_stop_limit_entry_has_both_prices() -> None:
    report = parse.order_report({**ENTRY, "type": 4, "stopPrice": 7.1, "limitPrice": 7.2}, "x")
    assert (report.order_type, report.trigger_price, report.price) == (
        OrderType.STOP_LIMIT, Decimal("7.1"), Decimal("7.2"))


def test_an_order_socket_message_reads_like_the_order_book() -> None:
    raw = {"id": "1", "qty_filled": 2, "org_ord_status": 6, "ord_status": 20, "tran_side": 1,
           "ord_type": 2, "price_traded": 5.5, "symbol": "NSE:SBIN-EQ", "qty": 5,
           "ordertag": "1:CF1", "update_time_epoch_oms": 1678334678}
    entry = parse.socket_order(raw)
    assert (entry["filledQty"], entry["status"], entry["side"], entry["type"]) == (2, 6, 1, 2)
    assert entry["orderTag"] == "1:CF1" and entry["orderDateTime"] == 1678334678
    report = parse.order_report(entry, "CF1")
    assert report.status is OrderStatus.PARTIALLY_FILLED and report.avg_px == Decimal("5.5")


def test_a_trade_becomes_a_fill() -> None:
    fill = parse.fill_report({"orderDateTime": "07-Aug-2020 13:51:12", "orderNumber": "120080",
                              "side": 1, "tradedQty": 10, "tradePrice": 32.7,
                              "tradeNumber": "52605023", "symbol": "NSE:PNB-EQ"}, "CF9")
    assert (fill.client_order_id, fill.venue_order_id, fill.trade_id, fill.side) == (
        "CF9", "120080", "52605023", OrderSide.BUY)
    assert (fill.quantity, fill.price, fill.commission_currency) == (10, Decimal("32.7"), "INR")
    assert fill.ts == parse.ist_ns("07-Aug-2020 13:51:12")


def test_positions_are_netted_over_products() -> None:
    rows = [{"symbol": "NSE:SBIN-EQ", "netQty": 10, "netAvg": 800, "productType": "INTRADAY"},
            {"symbol": "NSE:SBIN-EQ", "netQty": -4, "netAvg": 805, "productType": "CNC"},
            {"symbol": "NSE:IDEA-EQ", "netQty": 0, "netAvg": 0, "productType": "CNC"}]
    (report,) = parse.position_reports(rows, 7)
    assert (report.symbol, report.quantity, report.ts) == ("NSE:SBIN-EQ", 6, 7)
    assert report.avg_px == Decimal("796.6667")


def test_funds_of_both_ledgers_make_the_account() -> None:
    funds = [{"title": "Total Balance", "equityAmount": 58.15, "commodityAmount": 10},
             {"title": "Utilized Amount", "equityAmount": 0.3, "commodityAmount": 0}]
    report = parse.account_report(funds, Decimal("1.5"), "XT1", "INR", 9)
    assert (report.balance, report.equity, report.margin_used, report.currency) == (
        Decimal("68.15"), Decimal("69.65"), Decimal("0.3"), "INR")


def test_order_bodies_follow_fyers_fields() -> None:
    body = parse.order_body(_order(), "INTRADAY", "CF1")
    assert body == {"symbol": "NSE:SBIN-EQ", "qty": 5, "type": 1, "side": 1,
                    "productType": "INTRADAY", "limitPrice": 800.05, "stopPrice": 0,
                    "validity": "DAY", "disclosedQty": 0, "offlineOrder": False,
                    "stopLoss": 0, "takeProfit": 0, "isSliceOrder": False, "orderTag": "CF1"}
    stop = parse.order_body(_order(OrderType.STOP, trigger_price=Decimal("810")), "CNC", "")
    assert (stop["type"], stop["stopPrice"], stop["limitPrice"]) == (3, 810, 0)
    assert "orderTag" not in stop
    ioc = parse.order_body(_order(time_in_force=TimeInForce.IOC), "MARGIN", "t")
    assert ioc["validity"] == "IOC"
    assert parse.order_body(_order(time_in_force=TimeInForce.GTC), "CNC", "t")["validity"] == \
        "DAY"


@pytest.mark.parametrize(("order", "message"), [
    (_order(OrderType.MARKET_IF_TOUCHED, trigger_price=Decimal(1)), "no MARKET_IF_TOUCHED"),
    (_order(time_in_force=TimeInForce.FOK), "no FOK orders"),
    (_order(time_in_force=TimeInForce.GTD, expire_ns=5), "no GTD orders"),
    (_order(quantity=Decimal("1.5")), "whole quantities"),
])
def test_what_fyers_cannot_take_is_refused_before_sending(order: Order, message: str) -> None:
    with pytest.raises(FyersFatalError, match=message):
        parse.order_body(order, "INTRADAY", "t")


def test_a_modification_sends_what_changes() -> None:
    body = parse.modify_body("99", _order(), Decimal(10), None, None)
    assert body == {"id": "99", "type": 1, "qty": 10}
    assert parse.modify_body("99", _order(), None, Decimal("799.5"), None) == {
        "id": "99", "type": 1, "limitPrice": 799.5}


def test_order_tags_read_as_words() -> None:
    order = _order(tags=("product=BO; stop_loss=2", "Take_Profit=4,entry"))
    assert parse.order_tags(order) == {"product": "BO", "stop_loss": "2", "take_profit": "4"}
