"""Our orders as cTrader request bodies: types, times in force, volume checks, stop-loss and
take-profit tags, amendments, and which position a hedging account's order should close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader import orders
from tradeloop.brokers.ctrader.parse import SymbolInfo
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce
from tradeloop.model.orders import Order

EURUSD = SymbolInfo(1, "EURUSD", 5, 4, 100_000, 100_000, 10**9, 10_000_000, "EUR", "USD")


def _order(kind: OrderType = OrderType.MARKET, **over: Any) -> Order:
    values: dict[str, Any] = {"client_order_id": "CID-1", "strategy_id": "strat",
                              "symbol": "EURUSD", "side": OrderSide.BUY, "order_type": kind,
                              "quantity": Decimal(2000), "ts_init": 1}
    values.update(over)
    return Order(**values)


def test_a_market_order() -> None:
    body = orders.new_order(_order(), EURUSD, "tradeloop")
    assert body == {"symbolId": 1, "orderType": m.OrderType.MARKET,
                    "tradeSide": m.TradeSide.BUY, "volume": 200_000,
                    "clientOrderId": "CID-1", "label": "tradeloop", "comment": "strat"}
    ioc = orders.new_order(_order(time_in_force=TimeInForce.IOC), EURUSD, "", 55)
    assert ioc["timeInForce"] == m.TimeInForce.IMMEDIATE_OR_CANCEL and ioc["positionId"] == 55
    assert "label" not in ioc


def test_limit_stop_and_stop_limit_orders() -> None:
    limit = orders.new_order(_order(OrderType.LIMIT, price=Decimal("1.08"),
                                    side=OrderSide.SELL), EURUSD, "x")
    assert (limit["orderType"], limit["limitPrice"], limit["tradeSide"], limit["timeInForce"]) \
        == (m.OrderType.LIMIT, 1.08, m.TradeSide.SELL, m.TimeInForce.GOOD_TILL_CANCEL)
    stop = orders.new_order(_order(OrderType.STOP, trigger_price=Decimal("1.1")), EURUSD, "x")
    assert (stop["orderType"], stop["stopPrice"]) == (m.OrderType.STOP, 1.1)
    stop_limit = orders.new_order(_order(OrderType.STOP_LIMIT, trigger_price=Decimal("1.1"),
                                         price=Decimal("1.10015")), EURUSD, "x")
    assert (stop_limit["orderType"], stop_limit["stopPrice"], stop_limit["slippageInPoints"]) \
        == (m.OrderType.STOP_LIMIT, 1.1, 15)
    gtd = orders.new_order(_order(OrderType.LIMIT, price=Decimal("1.08"),
                                  time_in_force=TimeInForce.GTD,
                                  expire_ns=1_700_000_000_123_456_789), EURUSD, "x")
    assert gtd["timeInForce"] == m.TimeInForce.GOOD_TILL_DATE
    assert gtd["expirationTimestamp"] == 1_700_000_000_123


@pytest.mark.parametrize(("order", "message"), [
    (_order(OrderType.TRAILING_STOP, trailing_offset=Decimal("0.001")), "no TRAILING_STOP"),
    (_order(OrderType.LIMIT, price=Decimal(1), time_in_force=TimeInForce.DAY), "no DAY"),
    (_order(quantity=Decimal(500)), "below the minimum 1000"),
    (_order(quantity=Decimal(1500)), "not a multiple of the step 1000"),
    (_order(quantity=Decimal(10**8)), "above the maximum"),
    (_order(quantity=Decimal("1000.001")), "finer than"),
    (_order(client_order_id="X" * 51), "longer than cTrader's 50"),
    (_order(OrderType.STOP_LIMIT, trigger_price=Decimal("1.1"), price=Decimal("1.09")),
     "at or above the stop"),
])
def test_what_ctrader_cannot_take_is_refused_before_sending(order: Order, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        orders.new_order(order, EURUSD, "x")


def test_stop_loss_and_take_profit_ride_on_tags() -> None:
    limit = orders.new_order(_order(OrderType.LIMIT, price=Decimal("1.08"),
                                    tags=("sl=1.07", "tp=1.1", "note")), EURUSD, "x")
    assert (limit["stopLoss"], limit["takeProfit"]) == (1.07, 1.1)
    market = orders.new_order(_order(tags=("sl_distance=0.0020", "TP_DISTANCE=0.004")),
                              EURUSD, "x")
    assert (market["relativeStopLoss"], market["relativeTakeProfit"]) == (200, 400)
    assert "stopLoss" not in market
    with pytest.raises(ValueError, match="no absolute stop-loss or take-profit on a market"):
        orders.new_order(_order(tags=("sl=1.07",)), EURUSD, "x")


@pytest.mark.parametrize(("tags", "message"), [
    (("sl=-1",), "must be a positive number"),
    (("tp=abc",), "must be a positive number"),
    (("sl=1.07", "sl_distance=0.001"), "give sl or sl_distance, not both"),
])
def test_bad_stop_tags(tags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        orders.protection(tags)


def test_amendments() -> None:
    limit = _order(OrderType.LIMIT, price=Decimal("1.08"))
    assert orders.amend_order(limit, 9, EURUSD, Decimal(4000), Decimal("1.07995"), None) == {
        "orderId": 9, "volume": 400_000, "limitPrice": 1.07995}
    stop_limit = _order(OrderType.STOP_LIMIT, trigger_price=Decimal("1.1"),
                        price=Decimal("1.1001"))
    assert orders.amend_order(stop_limit, 9, EURUSD, None, None, Decimal("1.09995")) == {
        "orderId": 9, "stopPrice": 1.09995, "slippageInPoints": 15}
    with pytest.raises(ValueError, match="at or above the stop"):
        orders.amend_order(stop_limit, 9, EURUSD, None, None, Decimal("1.2"))
    with pytest.raises(ValueError, match="no trigger price"):
        orders.amend_order(limit, 9, EURUSD, None, None, Decimal("1.1"))
    with pytest.raises(ValueError, match="no limit price"):
        orders.amend_order(_order(OrderType.STOP, trigger_price=Decimal(1)), 9, EURUSD, None,
                           Decimal(1), None)


def _pos(pid: int, side: int, volume: int, opened: int, symbol: int = 1) -> dict[str, Any]:
    return {"positionId": pid, "positionStatus": m.PositionStatus.POSITION_STATUS_OPEN,
            "tradeData": {"symbolId": symbol, "volume": volume, "tradeSide": side,
                          "openTimestamp": opened}}


def test_a_market_order_closes_an_opposite_position_when_one_is_big_enough() -> None:
    sell = _order(side=OrderSide.SELL)
    longs = [_pos(1, m.TradeSide.BUY, 500_000, 10), _pos(2, m.TradeSide.BUY, 300_000, 20),
             _pos(3, m.TradeSide.BUY, 200_000, 30), _pos(4, m.TradeSide.SELL, 200_000, 5),
             _pos(5, m.TradeSide.BUY, 200_000, 1, symbol=2)]
    assert orders.closing_position(longs, sell, EURUSD, 200_000) == 3  # the exact size
    assert orders.closing_position(longs, sell, EURUSD, 250_000) == 1  # else the oldest
    assert orders.closing_position(longs, sell, EURUSD, 900_000) is None
    assert orders.closing_position(longs, _order(), EURUSD, 200_000) == 4
    limit = _order(OrderType.LIMIT, price=Decimal(1), side=OrderSide.SELL)
    assert orders.closing_position(longs, limit, EURUSD, 200_000) is None
