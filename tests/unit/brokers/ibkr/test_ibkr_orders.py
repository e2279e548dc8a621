"""Our orders as IB orders: every order type, every time in force, the outside-RTH flag, OCA
groups, brackets, and modifies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradeloop.brokers.ibkr.errors import IbkrFatalError
from tradeloop.brokers.ibkr.orders import (
    bare,
    build_order,
    good_till,
    is_bracket_parent,
    modified,
    oca_group,
    outside_rth,
    transmitted,
)
from tradeloop.brokers.ibkr.parse import UNSET
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

T0 = 1_767_225_600 * 10**9  # 2026-01-01 00:00:00 UTC


def order(kind: OrderType = OrderType.LIMIT, side: OrderSide = OrderSide.BUY, **fields: object
          ) -> Order:
    base: dict[str, object] = {"client_order_id": "C1", "strategy_id": "S", "symbol": "AAPL",
                               "side": side, "order_type": kind, "quantity": Decimal("10"),
                               "ts_init": T0}
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        base["price"] = Decimal("150.25")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED):
        base["trigger_price"] = Decimal("151.50")
    if kind is OrderType.TRAILING_STOP:
        base["trailing_offset"] = Decimal("2.5")
    base.update(fields)
    return Order(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "ib_type", "lmt", "aux"), [
    (OrderType.MARKET, "MKT", UNSET, UNSET),
    (OrderType.LIMIT, "LMT", 150.25, UNSET),
    (OrderType.STOP, "STP", UNSET, 151.5),
    (OrderType.STOP_LIMIT, "STP LMT", 150.25, 151.5),
    (OrderType.TRAILING_STOP, "TRAIL", UNSET, 2.5),
    (OrderType.MARKET_IF_TOUCHED, "MIT", UNSET, 151.5),
])
def test_every_order_type(kind: OrderType, ib_type: str, lmt: float, aux: float) -> None:
    ib = build_order(order(kind), outside_rth_default=False, account="DU1")
    assert (ib.orderType, ib.lmtPrice, ib.auxPrice) == (ib_type, lmt, aux)
    assert (ib.action, ib.totalQuantity, ib.orderRef, ib.account) == ("BUY", 10.0, "C1", "DU1")
    assert ib.transmit and ib.parentId == 0 and ib.ocaGroup == ""


def test_a_sell() -> None:
    assert build_order(order(side=OrderSide.SELL), outside_rth_default=False).action == "SELL"


def test_a_trailing_stop_by_percent_with_its_first_stop() -> None:
    ib = build_order(order(OrderType.TRAILING_STOP, side=OrderSide.SELL,
                           trailing_offset=Decimal("1.5"),
                           trailing_offset_type=TrailingOffsetType.PERCENT,
                           trigger_price=Decimal("140")), outside_rth_default=False)
    assert (ib.orderType, ib.trailingPercent, ib.auxPrice, ib.trailStopPrice) == (
        "TRAIL", 1.5, UNSET, 140.0)


@pytest.mark.parametrize("tif", list(TimeInForce))
def test_every_time_in_force(tif: TimeInForce) -> None:
    expire = T0 + 86_400 * 10**9 + 3_723 * 10**9 if tif is TimeInForce.GTD else None
    ib = build_order(order(time_in_force=tif, expire_ns=expire), outside_rth_default=False)
    assert ib.tif == tif.value
    assert ib.goodTillDate == ("20260102-01:02:03" if tif is TimeInForce.GTD else "")


def test_good_till_date_is_utc() -> None:
    when = dt.datetime(2026, 3, 29, 1, 30, 5, tzinfo=dt.UTC)
    assert good_till(int(when.timestamp()) * 10**9 + 999) == "20260329-01:30:05"


def test_outside_regular_hours_from_tags_or_settings() -> None:
    assert not outside_rth(order(), default=False)
    assert outside_rth(order(), default=True)
    assert outside_rth(order(tags=("entry", "outside_rth")), default=False)
    assert not outside_rth(order(tags=("RTH_ONLY",)), default=True)
    assert build_order(order(tags=("outside_rth",)), outside_rth_default=False).outsideRth


def test_oco_legs_share_one_group() -> None:
    a = order(client_order_id="B", contingency=ContingencyType.OCO, linked_ids=("A",))
    b = order(client_order_id="A", contingency=ContingencyType.OCO, linked_ids=("B",))
    assert oca_group(a) == oca_group(b) == "tl-oca-A"
    ib = build_order(a, outside_rth_default=False)
    assert (ib.ocaGroup, ib.ocaType) == ("tl-oca-A", 1)
    assert oca_group(order()) == ""


def test_a_bracket_parent_is_one_with_children() -> None:
    parent = order(contingency=ContingencyType.OTO, linked_ids=("SL", "TP"))
    assert is_bracket_parent(parent) and not is_bracket_parent(order())


def test_a_modify_copies_the_working_order_with_the_changes() -> None:
    working = build_order(order(OrderType.STOP_LIMIT), outside_rth_default=False)
    working.orderId, working.permId = 7, 99
    new = modified(working, order(OrderType.STOP_LIMIT), Decimal("20"), Decimal("150"),
                   Decimal("152"))
    assert (new.orderId, new.permId, new.totalQuantity, new.lmtPrice, new.auxPrice) == (
        7, 99, 20.0, 150.0, 152.0)
    assert working.totalQuantity == 10.0  # the working order is left as IB confirmed it
    trail = build_order(order(OrderType.TRAILING_STOP), outside_rth_default=False)
    assert modified(trail, order(OrderType.TRAILING_STOP), None, None,
                    Decimal("149")).trailStopPrice == 149.0


def test_a_modify_of_a_price_the_order_has_not_is_refused() -> None:
    working = build_order(order(OrderType.MARKET), outside_rth_default=False)
    with pytest.raises(IbkrFatalError, match="no limit price"):
        modified(working, order(OrderType.MARKET), None, Decimal("1"), None)
    with pytest.raises(IbkrFatalError, match="no trigger price"):
        modified(working, order(OrderType.MARKET), None, None, Decimal("1"))


def test_held_orders_are_released_and_bare_orders_cancel_by_id() -> None:
    held = build_order(order(), outside_rth_default=False)
    held.transmit = False
    assert transmitted(held).transmit and not held.transmit
    cancel = bare(12, 3, "C1")
    assert (cancel.orderId, cancel.clientId, cancel.orderRef) == (12, 3, "C1")
