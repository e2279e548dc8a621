"""ccxt structures to our instruments, reports and events; client order ids; the tracker."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradeloop.brokers.ccxt import parse
from tradeloop.brokers.ccxt.errors import CcxtFatalError
from tradeloop.brokers.ccxt.ids import BINANCE_CLIENT_ID, ClientIdMap, mapped_id
from tradeloop.brokers.ccxt.tracking import OrderTracker
from tradeloop.model import events as ev
from tradeloop.model.enums import (
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

SPOT_MARKET: dict[str, Any] = {
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "settle": None,
    "type": "spot", "spot": True, "swap": False, "contract": False, "contractSize": None,
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0}},
}
PERP_MARKET: dict[str, Any] = {
    "id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT",
    "settle": "USDT", "type": "swap", "spot": False, "swap": True, "contract": True,
    "linear": True, "contractSize": 1.0, "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001, "max": 1000.0}, "cost": {"min": 100.0}},
}


def _order(order_type: OrderType = OrderType.LIMIT, **kw: Any) -> Order:
    values: dict[str, Any] = {
        "client_order_id": "CF1", "strategy_id": "S", "symbol": "BTC/USDT",
        "side": OrderSide.BUY, "order_type": order_type, "quantity": Decimal("0.001"),
        "ts_init": 0, "price": Decimal("64000.5") if order_type in (
            OrderType.LIMIT, OrderType.STOP_LIMIT) else None}
    values.update(kw)
    return Order(**values)


# -- instruments --------------------------------------------------------------------------------


def test_spot_market_gives_tick_lot_and_minimum_from_the_filters() -> None:
    inst = parse.instrument_from_market(SPOT_MARKET, "BINANCE")
    assert (inst.symbol, inst.venue, inst.base_currency, inst.quote_currency) == (
        "BTC/USDT", "BINANCE", "BTC", "USDT")
    assert inst.tick_size == Decimal("0.01") and inst.lot_step == Decimal("0.00001")
    assert inst.min_quantity == Decimal("0.00001")
    assert inst.multiplier == 1 and inst.margin_rate == 1
    assert str(inst.make_quantity("0.0012345")) == "0.00123"


def test_a_perpetual_carries_its_contract_size_settle_currency_and_leverage() -> None:
    inst = parse.instrument_from_market(dict(PERP_MARKET, contractSize=0.01), "BINANCEUSDM",
                                        leverage=20)
    assert inst.quote_currency == "USDT" and inst.tick_size == Decimal("0.1")
    assert inst.lot_step == Decimal("0.001") and inst.multiplier == Decimal("0.01")
    assert inst.margin_rate == Decimal("0.05")


def test_decimal_places_precision_mode_becomes_a_step() -> None:
    market = dict(SPOT_MARKET, precision={"amount": 3, "price": 2})
    inst = parse.instrument_from_market(market, "X", precision_mode=2)
    assert inst.tick_size == Decimal("0.01") and inst.lot_step == Decimal("0.001")


def test_a_market_without_precision_is_refused() -> None:
    with pytest.raises(CcxtFatalError, match="precision"):
        parse.instrument_from_market(dict(SPOT_MARKET, precision={}), "X")


# -- orders out ---------------------------------------------------------------------------------


def test_a_limit_order_carries_our_client_id_and_time_in_force() -> None:
    args = parse.order_args(_order(time_in_force=TimeInForce.IOC), "CF1", "spot")
    assert (args.symbol, args.type, args.side, args.amount, args.price) == (
        "BTC/USDT", "limit", "buy", 0.001, 64000.5)
    assert args.params == {"clientOrderId": "CF1", "timeInForce": "IOC"}


def test_spot_stops_become_stop_loss_and_take_profit() -> None:
    stop = parse.order_args(_order(OrderType.STOP, trigger_price=Decimal("66000")), "A", "spot")
    assert stop.type == "market" and stop.params["stopLossPrice"] == "66000"
    stop_limit = parse.order_args(_order(OrderType.STOP_LIMIT, trigger_price=Decimal("66000")),
                                  "A", "spot")
    assert stop_limit.type == "limit" and stop_limit.price == 64000.5
    mit = parse.order_args(_order(OrderType.MARKET_IF_TOUCHED, trigger_price=Decimal("60000")),
                           "A", "spot")
    assert mit.params["takeProfitPrice"] == "60000" and mit.price is None


def test_unsupported_orders_are_refused_before_sending() -> None:
    with pytest.raises(CcxtFatalError, match="NOT_SUPPORTED"):
        parse.order_args(_order(time_in_force=TimeInForce.DAY), "A", "spot")
    with pytest.raises(CcxtFatalError, match="NOT_SUPPORTED"):
        parse.order_args(_order(OrderType.TRAILING_STOP, trailing_offset=Decimal(1)), "A",
                         "spot")
    trailing = parse.order_args(_order(
        OrderType.TRAILING_STOP, trailing_offset=Decimal("1.5"),
        trailing_offset_type=TrailingOffsetType.PERCENT), "A", "swap")
    assert trailing.params["trailingPercent"] == "1.5"


# -- reports in ---------------------------------------------------------------------------------


def _raw_order(**kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "info": {"type": "LIMIT", "timeInForce": "GTC"}, "id": "1000001",
        "clientOrderId": "CF1", "timestamp": 1_700_000_000_123, "lastUpdateTimestamp": None,
        "symbol": "BTC/USDT", "type": "limit", "timeInForce": "GTC", "side": "buy",
        "price": 60000.0, "amount": 0.01, "filled": 0.0, "average": None, "status": "open",
        "triggerPrice": None}
    raw.update(kw)
    return raw


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("open", 0.0, OrderStatus.ACCEPTED), ("open", 0.004, OrderStatus.PARTIALLY_FILLED),
    ("closed", 0.01, OrderStatus.FILLED), ("canceled", 0.0, OrderStatus.CANCELED),
    ("expired", 0.0, OrderStatus.EXPIRED), ("rejected", 0.0, OrderStatus.REJECTED),
])
def test_order_status(status: str, filled: float, expected: OrderStatus) -> None:
    assert parse.order_report(_raw_order(status=status, filled=filled), "CF1").status is expected


def test_order_report_is_exact_and_in_nanoseconds() -> None:
    report = parse.order_report(_raw_order(filled=0.004, average=60000.0), "OURS")
    assert report.client_order_id == "OURS" and report.venue_order_id == "1000001"
    assert report.quantity == Decimal("0.01") and report.filled_qty == Decimal("0.004")
    assert report.price == Decimal("60000.0") and report.avg_px == Decimal("60000.0")
    assert report.ts_accepted == 1_700_000_000_123_000_000 == report.ts_last
    assert report.order_type is OrderType.LIMIT and report.is_open
    stop = parse.order_report(_raw_order(info={"type": "STOP_LOSS"}, type="stop_loss",
                                         triggerPrice=66000.0, price=None), "S")
    assert stop.order_type is OrderType.STOP and stop.trigger_price == Decimal("66000.0")
    assert stop.price is None


def test_a_fill_with_commission_in_the_base_is_booked_in_the_quote() -> None:
    trade = {"id": "500001", "order": "1000002", "symbol": "BTC/USDT", "side": "buy",
             "takerOrMaker": "maker", "price": 65000.1, "amount": 0.01,
             "timestamp": 1_700_000_000_000, "fee": {"currency": "BTC", "cost": 1e-05}}
    fill = parse.fill_report(trade, "CF2", "BTC", "USDT")
    assert (fill.trade_id, fill.venue_order_id, fill.side) == ("500001", "1000002",
                                                               OrderSide.BUY)
    assert fill.quantity == Decimal("0.01") and fill.price == Decimal("65000.1")
    assert fill.commission == Decimal("0.650001") and fill.commission_currency == "USDT"
    assert fill.liquidity is LiquiditySide.MAKER
    assert parse.fill_report(trade, "CF2").commission_currency == "BTC"


def test_positions_net_of_trades_and_from_the_exchange() -> None:
    trades = [{"side": "buy", "amount": 0.01, "price": 100.0, "timestamp": 1},
              {"side": "buy", "amount": 0.01, "price": 200.0, "timestamp": 2},
              {"side": "sell", "amount": 0.005, "price": 300.0, "timestamp": 3}]
    net = parse.net_of_trades("BTC/USDT", trades)
    assert net is not None and net.quantity == Decimal("0.015")
    assert net.avg_px == Decimal("150") and net.ts == 3_000_000
    flat = [*trades[:1], {"side": "sell", "amount": 0.01, "price": 1.0, "timestamp": 4}]
    assert parse.net_of_trades("BTC/USDT", flat) is None
    short = parse.position_report({"symbol": "BTC/USDT:USDT", "contracts": 0.02,
                                   "side": "short", "entryPrice": 65000.5, "info": {}})
    assert short is not None and short.quantity == Decimal("-0.02")
    assert parse.position_report({"symbol": "X", "contracts": 0.0, "info": {}}) is None


def test_account_of_a_perpetual_wallet() -> None:
    raw = {"USDT": {"free": 9937.1, "used": 62.5, "total": 9999.6},
           "info": {"assets": [{"asset": "USDT", "walletBalance": "9999.67499950",
                                "marginBalance": "9999.67449950",
                                "initialMargin": "62.50002500"}]}}
    report = parse.account_report(raw, "USDT", "acc", contract=True)
    assert report.balance == Decimal("9999.67499950")
    assert report.equity == Decimal("9999.67449950")
    assert report.margin_used == Decimal("62.50002500")
    spot = parse.account_report(raw, "USDT", "acc", contract=False)
    assert spot.balance == spot.equity == Decimal("9999.6")


def test_market_data_shapes() -> None:
    quote = parse.quote_from_ticker({"bid": 1.5, "ask": 1.6, "bidVolume": 2.0,
                                     "timestamp": None}, "X", 42)
    assert quote is not None and quote.ts == 42 and quote.bid_size == 2.0
    assert parse.quote_from_ticker({"bid": None, "ask": 1.0}, "X", 0) is None
    bars = parse.bars_from_ohlcv([[60_000, 1, 2, 0.5, 1.5, 10], [120_000, 1.5, 3, 1, 2, 0]],
                                 "X", 60 * 10**9)
    assert bars.ts.tolist() == [60 * 10**9, 120 * 10**9] and bars.close.tolist() == [1.5, 2.0]
    assert len(parse.bars_from_ohlcv([], "X", 1)) == 0


# -- client order ids ---------------------------------------------------------------------------


def test_ids_that_fit_pass_through_and_others_map_reversibly(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    ids = ClientIdMap(path)
    assert ids.to_venue("S-0123456789abcdef0123") == "S-0123456789abcdef0123"
    long_id = "strategy with spaces and far too many characters #1"
    venue = ids.to_venue(long_id)
    assert venue == mapped_id(long_id) and BINANCE_CLIENT_ID.match(venue) and len(venue) <= 36
    assert ids.to_venue(long_id) == venue  # deterministic
    assert ClientIdMap(path).to_ours(venue) == long_id  # kept across a restart
    assert json.loads(path.read_text()) == {venue: long_id}
    assert ids.to_ours("unmapped") == "unmapped" and ids.to_ours(None) == ""


# -- the tracker --------------------------------------------------------------------------------


def _tracker() -> tuple[OrderTracker, list[ev.OrderEvent]]:
    events: list[ev.OrderEvent] = []
    tracker = OrderTracker(lambda: 7)
    tracker.bind(events.append)
    return tracker, events


def _fill(trade_id: str, qty: str, cid: str = "CF1") -> Any:
    return parse.fill_report({"id": trade_id, "order": "1000001", "symbol": "BTC/USDT",
                              "side": "buy", "price": 60000.0, "amount": float(qty),
                              "timestamp": 5}, cid)


def test_tracker_accepts_once_and_books_each_trade_once() -> None:
    tracker, events = _tracker()
    tracker.add(_order(quantity=Decimal("0.01"), price=Decimal(60000)))
    report = parse.order_report(_raw_order(), "CF1")
    tracker.on_report(report)
    tracker.on_report(report)
    tracker.on_fill(_fill("t1", "0.004"))
    tracker.on_fill(_fill("t1", "0.004"))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled"]
    assert tracker.duplicates_dropped == 1
    filled = parse.order_report(_raw_order(status="closed", filled=0.01), "CF1")
    assert tracker.missing_fills(filled)
    tracker.on_fill(_fill("t2", "0.006"))
    assert not tracker.missing_fills(filled) and not tracker.working()


def test_tracker_fill_before_acknowledgement_and_final_status() -> None:
    tracker, events = _tracker()
    tracker.add(_order(quantity=Decimal("0.01")))
    tracker.on_fill(_fill("t1", "0.004"))
    tracker.on_report(parse.order_report(_raw_order(status="canceled", filled=0.004), "CF1"))
    tracker.on_report(parse.order_report(_raw_order(status="canceled", filled=0.004), "CF1"))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled", "OrderCanceled"]


def test_tracker_reports_a_change_made_at_the_exchange() -> None:
    tracker, events = _tracker()
    tracker.add(_order(quantity=Decimal("0.01"), price=Decimal("60000.0")))
    tracker.on_report(parse.order_report(_raw_order(price=59999.5), "CF1"))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderUpdated"]
    update = events[-1]
    assert isinstance(update, ev.OrderUpdated)
    assert update.price == Decimal("59999.5") and update.quantity is None


def test_tracker_skips_trades_an_adopted_order_had_before() -> None:
    tracker, events = _tracker()
    report = parse.order_report(_raw_order(filled=0.004), "CF1")
    tracker.adopt(report)
    tracker.on_fill(_fill("t1", "0.004"))  # the node has this one already
    tracker.on_fill(_fill("t2", "0.006"))
    assert [(e.kind, getattr(e, "trade_id", "")) for e in events] == [("OrderFilled", "t2")]


def test_tracker_expires_an_unfillable_immediate_order() -> None:
    tracker, events = _tracker()
    tracker.add(_order(time_in_force=TimeInForce.FOK))
    tracker.expire("CF1", "-5021")
    tracker.expire("CF1", "-5021")
    assert [e.kind for e in events] == ["OrderExpired"]
