"""Our orders as alpaca-py order requests: types, time in force, extended hours by tag and
default, trailing stops, replacements, and contingent groups shaped as Alpaca's bracket, OTO and
OCO order classes (or refused when Alpaca cannot express them)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tradeloop.brokers.alpaca import orders
from tradeloop.brokers.alpaca.errors import AlpacaFatalError
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
_ids = iter(range(1, 1000))


def order(side: OrderSide = BUY, kind: OrderType = OrderType.LIMIT, *, symbol: str = "AAPL",
          qty: str = "10", price: str | None = "150", trigger: str | None = None,
          tif: TimeInForce = TimeInForce.GTC, tags: tuple[str, ...] = (),
          offset: str | None = None) -> Order:
    if kind in (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP):
        price = None
    return Order(client_order_id=f"C{next(_ids)}", strategy_id="S", symbol=symbol, side=side,
                 order_type=kind, quantity=Decimal(qty), ts_init=0,
                 price=Decimal(price) if price else None,
                 trigger_price=Decimal(trigger) if trigger else None, time_in_force=tif,
                 tags=tags, trailing_offset=Decimal(offset) if offset else None)


def fields(o: Order, default: bool = False) -> dict[str, object]:
    return orders.build_request(o, extended_default=default).to_request_fields()


def test_each_type_with_its_prices_and_our_client_order_id() -> None:
    limit = order()
    assert fields(limit) == {"symbol": "AAPL", "qty": 10.0, "side": "buy", "type": "limit",
                             "time_in_force": "gtc", "client_order_id": limit.client_order_id,
                             "limit_price": 150.0}
    assert fields(order(kind=OrderType.MARKET, tif=TimeInForce.DAY))["type"] == "market"
    stop = fields(order(SELL, OrderType.STOP_LIMIT, trigger="140", price="139.5"))
    assert (stop["type"], stop["stop_price"], stop["limit_price"]) == ("stop_limit", 140.0,
                                                                       139.5)
    trail = order(SELL, OrderType.TRAILING_STOP, offset="1.5")
    assert fields(trail)["trail_price"] == 1.5
    trail.trailing_offset_type = TrailingOffsetType.PERCENT
    assert fields(trail)["trail_percent"] == 1.5 and "trail_price" not in fields(trail)


def test_time_in_force_and_the_auctions() -> None:
    assert fields(order(tif=TimeInForce.FOK))["time_in_force"] == "fok"
    assert fields(order(tif=TimeInForce.DAY, tags=("at_open",)))["time_in_force"] == "opg"
    assert fields(order(tif=TimeInForce.DAY, tags=("at_close",)))["time_in_force"] == "cls"
    gtd = order()
    gtd.time_in_force, gtd.expire_ns = TimeInForce.GTD, 10**18
    with pytest.raises(AlpacaFatalError, match="Alpaca has no GTD time in force"):
        fields(gtd)
    with pytest.raises(AlpacaFatalError, match="crypto orders with GTC or IOC only"):
        fields(order(symbol="BTC/USD", tif=TimeInForce.DAY))
    with pytest.raises(AlpacaFatalError, match="crypto orders as MARKET, LIMIT or STOP_LIMIT"):
        fields(order(SELL, OrderType.STOP, symbol="BTC/USD", trigger="60000"))


def test_extended_hours_by_tag_or_by_default_on_limit_day_orders() -> None:
    day = order(tif=TimeInForce.DAY)
    assert "extended_hours" not in fields(day)
    assert fields(day, default=True)["extended_hours"] is True
    assert "extended_hours" not in fields(order(tif=TimeInForce.DAY, tags=("rth_only",)), True)
    assert "extended_hours" not in fields(order(), default=True)  # GTC: regular hours
    assert fields(order(tif=TimeInForce.DAY, tags=("outside_rth",)))["extended_hours"] is True
    with pytest.raises(AlpacaFatalError, match="extended-hours orders only as LIMIT orders "
                                               "with DAY time in force"):
        fields(order(kind=OrderType.MARKET, tif=TimeInForce.DAY, tags=("outside_rth",)))


def _bracket(entry: Order, *exits: Order) -> list[Order]:
    entry.contingency = ContingencyType.OTO
    entry.linked_ids = tuple(e.client_order_id for e in exits)
    for leg in exits:
        leg.parent_id = entry.client_order_id
        leg.contingency = ContingencyType.OCO if len(exits) > 1 else ContingencyType.NONE
        leg.linked_ids = tuple(e.client_order_id for e in exits if e is not leg)
    return [entry, *exits]


def test_a_bracket_and_an_oto_are_one_request_under_the_entry() -> None:
    entry = order(kind=OrderType.MARKET)
    stop = order(SELL, OrderType.STOP, trigger="140")
    take = order(SELL, price="160")
    group = orders.shape_group(_bracket(entry, stop, take))
    assert (group.order_class, group.main, group.legs) == ("bracket", entry, [take, stop])
    assert orders.group_key(stop) == orders.group_key(entry) == entry.client_order_id
    request = orders.build_group(group, extended_default=False).to_request_fields()
    assert request["order_class"] == "bracket" and request["type"] == "market"
    assert request["client_order_id"] == entry.client_order_id
    assert request["take_profit"] == {"limit_price": 160.0}
    assert request["stop_loss"] == {"stop_price": 140.0}
    single = order(kind=OrderType.LIMIT, price="149")
    exit_ = order(SELL, OrderType.STOP_LIMIT, trigger="140", price="139")
    oto = orders.shape_group(_bracket(single, exit_))
    built = orders.build_group(oto, extended_default=False).to_request_fields()
    assert built["order_class"] == "oto"
    assert built["stop_loss"] == {"stop_price": 140.0, "limit_price": 139.0}


def test_an_oco_pair_goes_under_its_limit_leg() -> None:
    stop = order(SELL, OrderType.STOP, trigger="140")
    take = order(SELL, price="160")
    for leg, other in ((stop, take), (take, stop)):
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    assert orders.group_key(take) == orders.group_key(stop) == min(
        take.client_order_id, stop.client_order_id)
    group = orders.shape_group([stop, take])
    assert (group.order_class, group.main, group.legs) == ("oco", take, [stop])
    request = orders.build_group(group, extended_default=False).to_request_fields()
    assert (request["type"], request["limit_price"], request["client_order_id"]) == (
        "limit", 160.0, take.client_order_id)


@pytest.mark.parametrize(("make", "why"), [
    (lambda: _bracket(order(kind=OrderType.STOP, trigger="151"), order(SELL, price="160")),
     "entries are MARKET or LIMIT"),
    (lambda: _bracket(order(), order(BUY, price="160")), "on the other side of the entry"),
    (lambda: _bracket(order(), order(SELL, price="160", qty="5")), "for its quantity"),
    (lambda: _bracket(order(symbol="BTC/USD"), order(SELL, symbol="BTC/USD", price="70000")),
     "crypto orders as simple orders only"),
    (lambda: _bracket(order(), order(SELL, price="160"), order(SELL, price="161")),
     "one LIMIT (take profit)"),
])
def test_groups_alpaca_cannot_express_are_refused(make: object, why: str) -> None:
    with pytest.raises(AlpacaFatalError, match=re.escape(why)):
        orders.shape_group(make())  # type: ignore[operator]


def test_a_replacement_changes_whole_shares_and_the_prices_the_type_has() -> None:
    limit = order()
    request = orders.replace_request(limit, remaining=Decimal(7), price=Decimal("149.5"),
                                     trigger_price=None, client_order_id="C.r1")
    assert request.to_request_fields() == {"qty": 7, "limit_price": 149.5,
                                           "client_order_id": "C.r1"}
    with pytest.raises(AlpacaFatalError, match="whole-share quantities only"):
        orders.replace_request(limit, remaining=Decimal("2.5"), price=None, trigger_price=None,
                               client_order_id="C.r1")
    with pytest.raises(AlpacaFatalError, match="has no trigger price to change"):
        orders.replace_request(limit, remaining=None, price=None, trigger_price=Decimal(1),
                               client_order_id="C.r1")
