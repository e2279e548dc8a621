"""Our orders as IB orders.

==================  ===========  ==============================================================
ours                IB           fields
==================  ===========  ==============================================================
MARKET              MKT
LIMIT               LMT          lmtPrice
STOP                STP          auxPrice = trigger
STOP_LIMIT          STP LMT      auxPrice = trigger, lmtPrice
TRAILING_STOP       TRAIL        auxPrice = offset (price) or trailingPercent (percent);
                                 trailStopPrice = the first stop, when the order names one
MARKET_IF_TOUCHED   MIT          auxPrice = trigger
==================  ===========  ==============================================================

Time in force: DAY, GTC, IOC, FOK and GTD (``goodTillDate`` in UTC, ``YYYYMMDD-HH:MM:SS``).
Our client order id goes in ``orderRef``. An order works outside regular trading hours when its
tags say ``"outside_rth"`` (``"rth_only"`` forbids it), else as ``outside_rth`` in the settings.
One-cancels-other legs share an OCA group named after the group's smallest client order id
(``ocaType`` 1: a fill cancels the rest). Bracket children carry their parent's IB order id
(``parentId``): the parent and all but the last child go with ``transmit = False``, and IB
works the group once the last child arrives.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

from ib_async import Order as IbOrder

from tradeloop.brokers.ibkr.errors import IbkrFatalError
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

IB_ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT", OrderType.TRAILING_STOP: "TRAIL",
    OrderType.MARKET_IF_TOUCHED: "MIT",
}
IB_TIME_IN_FORCE: dict[TimeInForce, str] = {
    TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK", TimeInForce.GTD: "GTD",
}
OUTSIDE_RTH_TAG = "outside_rth"
RTH_ONLY_TAG = "rth_only"
#: ``ocaType``: cancel the group's other orders (with block) once one fills.
OCA_CANCEL_ALL = 1


def good_till(expire_ns: int) -> str:
    """A GTD expiry as IB takes it in UTC: ``YYYYMMDD-HH:MM:SS``."""
    when = dt.datetime.fromtimestamp(expire_ns // 1_000_000_000, dt.UTC)
    return when.strftime("%Y%m%d-%H:%M:%S")


def outside_rth(order: Order, default: bool) -> bool:
    """Whether ``order`` may trigger and fill outside regular trading hours."""
    tags = {t.strip().lower() for t in order.tags}
    if RTH_ONLY_TAG in tags:
        return False
    return True if OUTSIDE_RTH_TAG in tags else default


def oca_group(order: Order) -> str:
    """The OCA group of a one-cancels-other order ("" when it is none): the same for every
    leg of the group."""
    if order.contingency is not ContingencyType.OCO or not order.linked_ids:
        return ""
    return "tl-oca-" + min((order.client_order_id, *order.linked_ids))


def is_bracket_parent(order: Order) -> bool:
    """True for an order whose children IB holds until it fills (OTO with children)."""
    return order.contingency is ContingencyType.OTO and bool(order.linked_ids)


def build_order(order: Order, *, outside_rth_default: bool, account: str = "") -> IbOrder:
    """The IB order of ``order`` (without order id, parent or transmit flag).

    Raises
    ------
    IbkrFatalError
        An order IB cannot take as it is (a GTD order without its expiry).
    """
    kind = order.order_type
    ib = IbOrder(action="BUY" if order.side is OrderSide.BUY else "SELL",
                 totalQuantity=float(order.quantity), orderType=IB_ORDER_TYPES[kind],
                 tif=IB_TIME_IN_FORCE[order.time_in_force], orderRef=order.client_order_id,
                 outsideRth=outside_rth(order, outside_rth_default), account=account)
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        ib.lmtPrice = float(_need(order.price, order, "a limit price"))
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED):
        ib.auxPrice = float(_need(order.trigger_price, order, "a trigger price"))
    if kind is OrderType.TRAILING_STOP:
        offset = _need(order.trailing_offset, order, "a trailing offset")
        if order.trailing_offset_type is TrailingOffsetType.PERCENT:
            ib.trailingPercent = float(offset)
        else:
            ib.auxPrice = float(offset)
        if order.trigger_price is not None:
            ib.trailStopPrice = float(order.trigger_price)
    if order.time_in_force is TimeInForce.GTD:
        ib.goodTillDate = good_till(int(_need(order.expire_ns, order, "an expiry time")))
    group = oca_group(order)
    if group:
        ib.ocaGroup = group
        ib.ocaType = OCA_CANCEL_ALL
    return ib


def modified(current: IbOrder, order: Order, quantity: Decimal | None, price: Decimal | None,
             trigger_price: Decimal | None) -> IbOrder:
    """A copy of the working IB order with a new quantity, limit or trigger (placed again
    with the same order id, that is IB's modify)."""
    new = copy.copy(current)
    new.transmit = True
    if quantity is not None:
        new.totalQuantity = float(quantity)
    kind = order.order_type
    if price is not None:
        if kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            raise IbkrFatalError(f"{order.client_order_id}: a {kind.value} order has no limit "
                                 "price to change")
        new.lmtPrice = float(price)
    if trigger_price is not None:
        if kind is OrderType.TRAILING_STOP:
            new.trailStopPrice = float(trigger_price)
        elif kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED):
            new.auxPrice = float(trigger_price)
        else:
            raise IbkrFatalError(f"{order.client_order_id}: a {kind.value} order has no "
                                 "trigger price to change")
    return new


def bare(order_id: int, client_id: int, order_ref: str = "") -> IbOrder:
    """Just enough of an order to cancel it by its IB order id."""
    return IbOrder(orderId=order_id, clientId=client_id, orderRef=order_ref)


def transmitted(current: IbOrder) -> IbOrder:
    """A copy of a held (untransmitted) IB order that IB is to work now."""
    new = copy.copy(current)
    new.transmit = True
    return new


def _need(value: Decimal | int | None, order: Order, what: str) -> Decimal | int:
    if value is None:
        raise IbkrFatalError(f"{order.client_order_id}: a {order.order_type.value} order "
                             f"needs {what}")
    return value


__all__ = ["IB_ORDER_TYPES", "IB_TIME_IN_FORCE", "OCA_CANCEL_ALL", "OUTSIDE_RTH_TAG",
           "RTH_ONLY_TAG", "bare", "build_order", "good_till", "is_bracket_parent", "modified",
           "oca_group", "outside_rth", "transmitted"]
