"""Our orders as Schwab order JSON: types, durations, instructions from the position, linked
groups as OCO and TRIGGER trees, and the fingerprint that finds an order again."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from support.schwab.orders import order_json
from support.schwab.venue import Venue
from tradeloop.brokers.schwab.errors import SchwabFatalError
from tradeloop.brokers.schwab.orders import (
    fingerprint,
    group_json,
    instruction_for,
    is_linked,
    is_option,
    single_json,
    walk_json,
)
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

CALL = "AAPL  261218C00200000"


def order(cid: str = "A1", side: OrderSide = OrderSide.BUY, kind: OrderType = OrderType.LIMIT,
          *, symbol: str = "AAPL", quantity: str = "10", price: str | None = "180.5",
          trigger: str | None = None, tif: TimeInForce = TimeInForce.GTC,
          tags: tuple[str, ...] = (), offset: str | None = None,
          offset_type: TrailingOffsetType = TrailingOffsetType.PRICE) -> Order:
    return Order(client_order_id=cid, strategy_id="S", symbol=symbol, side=side,
                 order_type=kind, quantity=Decimal(quantity), ts_init=0,
                 price=Decimal(price) if price is not None else None,
                 trigger_price=Decimal(trigger) if trigger is not None else None,
                 time_in_force=tif, tags=tags,
                 trailing_offset=Decimal(offset) if offset is not None else None,
                 trailing_offset_type=offset_type)


def test_a_limit_order() -> None:
    body = single_json(order(), "BUY", "NORMAL")
    assert body == {"orderType": "LIMIT", "session": "NORMAL", "duration": "GOOD_TILL_CANCEL",
                    "orderStrategyType": "SINGLE", "price": "180.5",
                    "orderLegCollection": [{"instruction": "BUY", "quantity": 10,
                                            "instrument": {"symbol": "AAPL",
                                                           "assetType": "EQUITY"}}]}


def test_stops_and_durations() -> None:
    stop = single_json(order(kind=OrderType.STOP, price=None, trigger="200",
                             tif=TimeInForce.DAY), "BUY", "NORMAL")
    assert (stop["orderType"], stop["stopPrice"], stop["duration"]) == ("STOP", "200", "DAY")
    assert "price" not in stop
    both = single_json(order(kind=OrderType.STOP_LIMIT, price="201", trigger="200",
                             tif=TimeInForce.IOC), "BUY", "NORMAL")
    assert (both["price"], both["stopPrice"], both["duration"]) == (
        "201", "200", "IMMEDIATE_OR_CANCEL")
    fok = single_json(order(tif=TimeInForce.FOK), "BUY", "NORMAL")
    assert fok["duration"] == "FILL_OR_KILL"


def test_a_gtc_market_order_goes_for_the_day() -> None:
    body = single_json(order(kind=OrderType.MARKET, price=None), "BUY", "NORMAL")
    assert body["duration"] == "DAY" and "price" not in body


def test_trailing_stops_follow_the_bid_or_the_ask() -> None:
    sell = single_json(order(side=OrderSide.SELL, kind=OrderType.TRAILING_STOP, price=None,
                             offset="1.25"), "SELL", "NORMAL")
    assert {k: sell[k] for k in ("orderType", "stopPriceLinkBasis", "stopPriceLinkType",
                                 "stopPriceOffset")} == {
        "orderType": "TRAILING_STOP", "stopPriceLinkBasis": "BID",
        "stopPriceLinkType": "VALUE", "stopPriceOffset": "1.25"}
    buy = single_json(order(kind=OrderType.TRAILING_STOP, price=None, offset="2",
                            offset_type=TrailingOffsetType.PERCENT), "BUY", "NORMAL", "MARK")
    assert (buy["stopPriceLinkBasis"], buy["stopPriceLinkType"]) == ("MARK", "PERCENT")


def test_what_schwab_does_not_take_is_refused_before_sending() -> None:
    with pytest.raises(SchwabFatalError, match="NOT_SUPPORTED: Schwab has no MARKET_IF_TOUCHED"):
        single_json(order(kind=OrderType.MARKET_IF_TOUCHED, price=None, trigger="170"), "BUY",
                    "NORMAL")
    gtd = Order(client_order_id="G", strategy_id="S", symbol="AAPL", side=OrderSide.BUY,
                order_type=OrderType.LIMIT, quantity=Decimal(1), ts_init=0,
                price=Decimal(1), time_in_force=TimeInForce.GTD, expire_ns=time.time_ns())
    with pytest.raises(SchwabFatalError, match="no GTD"):
        single_json(gtd, "BUY", "NORMAL")
    with pytest.raises(SchwabFatalError, match="whole quantities"):
        single_json(order(quantity="0.5"), "BUY", "NORMAL")


def test_a_session_tag_overrides_the_settings() -> None:
    assert single_json(order(tags=("session=seamless",)), "BUY", "NORMAL")["session"] == \
        "SEAMLESS"
    with pytest.raises(SchwabFatalError, match="session 'LUNCH'"):
        single_json(order(tags=("session=lunch",)), "BUY", "NORMAL")


@pytest.mark.parametrize(("symbol", "side", "held", "expected"), [
    ("AAPL", OrderSide.BUY, Decimal(0), "BUY"),
    ("AAPL", OrderSide.BUY, Decimal(-5), "BUY_TO_COVER"),
    ("AAPL", OrderSide.SELL, Decimal(10), "SELL"),
    ("AAPL", OrderSide.SELL, Decimal(0), "SELL_SHORT"),
    (CALL, OrderSide.BUY, Decimal(0), "BUY_TO_OPEN"),
    (CALL, OrderSide.BUY, Decimal(-2), "BUY_TO_CLOSE"),
    (CALL, OrderSide.SELL, Decimal(2), "SELL_TO_CLOSE"),
    (CALL, OrderSide.SELL, Decimal(0), "SELL_TO_OPEN"),
])
def test_the_instruction_follows_the_position(symbol: str, side: OrderSide, held: Decimal,
                                              expected: str) -> None:
    assert instruction_for(order(symbol=symbol, side=side), held) == expected


def test_an_instruction_tag_forces_one() -> None:
    assert instruction_for(order(side=OrderSide.SELL, tags=("instruction=sell",)),
                           Decimal(0)) == "SELL"
    with pytest.raises(SchwabFatalError, match="instruction tag 'DUMP'"):
        instruction_for(order(tags=("instruction=dump",)), Decimal(0))


def test_option_symbols() -> None:
    assert is_option(CALL) and is_option("SPY240621P00500000") and not is_option("AAPL")


def _node(o: Order) -> dict[str, object]:
    return single_json(o, "BUY" if o.side is OrderSide.BUY else "SELL", "NORMAL")


def test_an_oco_pair_is_one_oco_order() -> None:
    a = order("T1", OrderSide.SELL, price="200")
    b = order("S1", OrderSide.SELL, OrderType.STOP, price=None, trigger="170")
    for leg, other in ((a, b), (b, a)):
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    assert is_linked(a) and is_linked(b)
    body, layout = group_json([a, b], _node)
    assert body["orderStrategyType"] == "OCO" and "orderLegCollection" not in body
    assert [c["orderType"] for c in body["childOrderStrategies"]] == ["LIMIT", "STOP"]
    assert [n.client_order_id for n in layout.walk()] == ["", "T1", "S1"]


def test_a_bracket_is_a_trigger_with_an_oco_child() -> None:
    entry = order("E1", price="180")
    sl = order("S1", OrderSide.SELL, OrderType.STOP, price=None, trigger="170")
    tp = order("T1", OrderSide.SELL, price="200")
    entry.contingency, entry.linked_ids = ContingencyType.OTO, ("S1", "T1")
    for leg, other in ((sl, tp), (tp, sl)):
        leg.parent_id = "E1"
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    body, layout = group_json([entry, sl, tp], _node)
    assert body["orderStrategyType"] == "TRIGGER" and body["orderType"] == "LIMIT"
    (oco,) = body["childOrderStrategies"]
    assert oco["orderStrategyType"] == "OCO" and len(oco["childOrderStrategies"]) == 2
    assert [n.client_order_id for n in layout.walk()] == ["E1", "", "S1", "T1"]
    assert len(walk_json(body)) == len(layout.walk())


def test_a_parent_with_one_child_is_a_plain_trigger() -> None:
    entry = order("E1")
    child = order("C1", OrderSide.SELL, price="200")
    entry.contingency, entry.linked_ids = ContingencyType.OTO, ("C1",)
    child.parent_id = "E1"
    body, layout = group_json([entry, child], _node)
    assert body["childOrderStrategies"][0]["orderStrategyType"] == "SINGLE"
    assert [n.client_order_id for n in layout.walk()] == ["E1", "C1"]


def test_the_fingerprint_of_what_is_sent_is_that_of_what_schwab_answers() -> None:
    venue = Venue(lambda: int(time.time() * 1000), "12345678", Decimal(100_000))
    entry = order("E1", price="180")
    sl = order("S1", OrderSide.SELL, OrderType.STOP, price=None, trigger="170")
    tp = order("T1", OrderSide.SELL, price="200.10")
    entry.contingency, entry.linked_ids = ContingencyType.OTO, ("S1", "T1")
    for leg, other in ((sl, tp), (tp, sl)):
        leg.parent_id = "E1"
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    body, _ = group_json([entry, sl, tp], _node)
    booked = venue.place(body)
    assert fingerprint(order_json(booked)) == fingerprint(body)
    other = single_json(order("X", price="180.01"), "BUY", "NORMAL")
    assert fingerprint(other) != fingerprint(single_json(order("Y"), "BUY", "NORMAL"))
