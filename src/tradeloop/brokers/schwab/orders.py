"""Our orders as Schwab order JSON, and the fingerprint that finds an order again.

==================  ================  ===========================================================
ours                Schwab orderType  fields
==================  ================  ===========================================================
MARKET              MARKET
LIMIT               LIMIT             price
STOP                STOP              stopPrice = trigger
STOP_LIMIT          STOP_LIMIT        stopPrice = trigger, price
TRAILING_STOP       TRAILING_STOP     stopPriceLinkBasis (BID for sells, ASK for buys, or
                                      ``trailing_basis``), stopPriceLinkType VALUE or PERCENT,
                                      stopPriceOffset = the offset
==================  ================  ===========================================================

``duration``: DAY, GOOD_TILL_CANCEL (GTC), IMMEDIATE_OR_CANCEL, FILL_OR_KILL; there is no
good-till-date or market-if-touched order here. A GTC market order goes as DAY (Schwab takes
market orders for the day only, and they fill at once). ``session``: the settings' (NORMAL), or an
order tag ``session=AM|PM|SEAMLESS``.

The instruction follows the position the adapter knows: equities BUY, SELL (out of a long),
SELL_SHORT (from flat or short) and BUY_TO_COVER (out of a short); options BUY_TO_OPEN,
BUY_TO_CLOSE, SELL_TO_OPEN and SELL_TO_CLOSE the same way. A tag ``instruction=...`` forces
one. Legs of a TRIGGER group count the parent's fill first (a bracket's exits close what the
entry opens).

Linked orders go as one Schwab order: an OCO group as ``orderStrategyType`` OCO with the legs
in ``childOrderStrategies``; a parent with children (OTO) as TRIGGER, the children (an OCO
group among them, as in a bracket) under it. :class:`Layout` records which of our orders sits
where in that tree, so each node's ``orderId`` can be matched to its client order id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeloop.brokers.schwab.errors import SchwabFatalError
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "STOP",
    OrderType.STOP_LIMIT: "STOP_LIMIT", OrderType.TRAILING_STOP: "TRAILING_STOP"}
DURATIONS: dict[TimeInForce, str] = {
    TimeInForce.DAY: "DAY", TimeInForce.GTC: "GOOD_TILL_CANCEL",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCEL", TimeInForce.FOK: "FILL_OR_KILL"}
OPTION_SYMBOL = re.compile(r"^[A-Z0-9.]{1,6}\s*\d{6}[CP]\d{8}$")
SESSIONS = ("NORMAL", "AM", "PM", "SEAMLESS")
INSTRUCTIONS = ("BUY", "SELL", "SELL_SHORT", "BUY_TO_COVER", "BUY_TO_OPEN", "BUY_TO_CLOSE",
                "SELL_TO_OPEN", "SELL_TO_CLOSE")


def is_option(symbol: str) -> bool:
    """True for an option symbol in Schwab's form (``AAPL  261218C00200000``)."""
    return bool(OPTION_SYMBOL.match(symbol))


def asset_type(symbol: str) -> str:
    """Schwab's ``assetType`` of a symbol: OPTION or EQUITY."""
    return "OPTION" if is_option(symbol) else "EQUITY"


def _tag(order: Order, name: str) -> str | None:
    for tag in order.tags:
        key, sep, value = tag.partition("=")
        if sep and key.strip().lower() == name:
            return value.strip().upper()
    return None


def instruction_for(order: Order, held: Decimal) -> str:
    """Schwab's instruction for ``order`` when ``held`` (signed) is the position before it.

    Raises
    ------
    SchwabFatalError
        A tag names an instruction Schwab does not have.
    """
    forced = _tag(order, "instruction")
    if forced is not None:
        if forced not in INSTRUCTIONS:
            raise SchwabFatalError("INVALID_ORDER", f"instruction tag {forced!r} is not one of "
                                   f"{', '.join(INSTRUCTIONS)}")
        return forced
    buy = order.side is OrderSide.BUY
    if is_option(order.symbol):
        if buy:
            return "BUY_TO_CLOSE" if held < 0 else "BUY_TO_OPEN"
        return "SELL_TO_CLOSE" if held > 0 else "SELL_TO_OPEN"
    if buy:
        return "BUY_TO_COVER" if held < 0 else "BUY"
    return "SELL" if held > 0 else "SELL_SHORT"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def single_json(order: Order, instruction: str, session: str, trailing_basis: str = ""
                ) -> dict[str, Any]:
    """One of our orders as a SINGLE Schwab order.

    Raises
    ------
    SchwabFatalError
        NOT_SUPPORTED for an order type or time in force Schwab does not take, INVALID_ORDER
        for a fractional quantity or a bad session tag.
    """
    kind = ORDER_TYPES.get(order.order_type)
    if kind is None:
        raise SchwabFatalError("NOT_SUPPORTED", f"Schwab has no {order.order_type.value} "
                               "orders")
    duration = DURATIONS.get(order.time_in_force)
    if order.order_type is OrderType.MARKET and order.time_in_force is TimeInForce.GTC:
        duration = "DAY"  # Schwab takes market orders for the day only; they fill at once
    if duration is None:
        raise SchwabFatalError("NOT_SUPPORTED", f"Schwab has no {order.time_in_force.value} "
                               "time in force here")
    if order.quantity != order.quantity.to_integral_value() or order.quantity <= 0:
        raise SchwabFatalError("INVALID_ORDER", f"Schwab takes whole quantities only, not "
                               f"{order.quantity}")
    chosen = _tag(order, "session") or session
    if chosen not in SESSIONS:
        raise SchwabFatalError("INVALID_ORDER", f"session {chosen!r} is not one of "
                               f"{', '.join(SESSIONS)}")
    body: dict[str, Any] = {
        "orderType": kind, "session": chosen, "duration": duration,
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [{"instruction": instruction, "quantity": int(order.quantity),
                                "instrument": {"symbol": order.symbol,
                                               "assetType": asset_type(order.symbol)}}]}
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert order.price is not None
        body["price"] = _number(order.price)
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        assert order.trigger_price is not None
        body["stopPrice"] = _number(order.trigger_price)
    if order.order_type is OrderType.TRAILING_STOP:
        if order.trailing_offset is None or order.trailing_offset <= 0:
            raise SchwabFatalError("INVALID_ORDER", "a trailing stop needs a positive offset")
        basis = trailing_basis or ("ASK" if order.side is OrderSide.BUY else "BID")
        percent = order.trailing_offset_type is TrailingOffsetType.PERCENT
        body.update({"stopPriceLinkBasis": basis,
                     "stopPriceLinkType": "PERCENT" if percent else "VALUE",
                     "stopPriceOffset": _number(order.trailing_offset), "stopType": "STANDARD"})
    return body


# -- groups -----------------------------------------------------------------------------------


@dataclass
class Layout:
    """Where our orders sit in a Schwab order tree: ``client_order_id`` of this node ("" for
    an OCO container) and the layouts of its ``childOrderStrategies`` in order."""

    client_order_id: str = ""
    children: list[Layout] = field(default_factory=list)

    def walk(self) -> list[Layout]:
        """This node and every node under it, root first (as :func:`walk_json`)."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def to_json(self) -> dict[str, Any]:
        """As kept in the order journal."""
        return {"id": self.client_order_id, "children": [c.to_json() for c in self.children]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Layout:
        """Back from :meth:`to_json`."""
        return cls(str(raw.get("id", "")), [cls.from_json(c) for c in raw.get("children", [])])


def group_ids(order: Order) -> set[str]:
    """The client order ids ``order`` names as linked to it (and itself)."""
    ids = {order.client_order_id, *order.linked_ids}
    if order.parent_id:
        ids.add(order.parent_id)
    return ids


def is_linked(order: Order) -> bool:
    """True when ``order`` goes to Schwab in a group with others."""
    return bool(order.parent_id) or (order.contingency is not ContingencyType.NONE
                                     and bool(order.linked_ids))


def group_json(orders: Sequence[Order], node_of: Callable[[Order], dict[str, Any]]
               ) -> tuple[dict[str, Any], Layout]:
    """A group of linked orders as one Schwab order, and its layout.

    Parameters
    ----------
    orders : sequence of Order
        Every order of the group.
    node_of : callable
        One order's SINGLE JSON.

    Raises
    ------
    SchwabFatalError
        NOT_SUPPORTED for a shape Schwab cannot hold (several parents, grandchildren).
    """
    by_id = {o.client_order_id: o for o in orders}
    roots = [o for o in orders if not o.parent_id or o.parent_id not in by_id]
    parents = [o for o in roots if o.contingency is ContingencyType.OTO]
    if len(parents) > 1 or (parents and len(roots) > 1):
        raise SchwabFatalError("NOT_SUPPORTED", "Schwab takes one parent order per TRIGGER "
                               "group")
    if parents:
        parent = parents[0]
        children = [o for o in orders if o.parent_id == parent.client_order_id]
        if any(o.contingency is ContingencyType.OTO and o.linked_ids for o in children):
            raise SchwabFatalError("NOT_SUPPORTED", "Schwab's TRIGGER orders take one level "
                                   "of children here")
        bodies, layouts = _clusters(children, node_of)
        body = dict(node_of(parent), orderStrategyType="TRIGGER",
                    childOrderStrategies=bodies)
        return body, Layout(parent.client_order_id, layouts)
    bodies, layouts = _clusters(list(orders), node_of)
    if len(bodies) != 1:
        raise SchwabFatalError("NOT_SUPPORTED", "these orders are not one OCO group")
    return bodies[0], layouts[0]


def _clusters(orders: list[Order], node_of: Callable[[Order], dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], list[Layout]]:
    """Orders as OCO containers (legs linked one-cancels-other) and single orders."""
    pending = list(orders)
    bodies: list[dict[str, Any]] = []
    layouts: list[Layout] = []
    while pending:
        first = pending.pop(0)
        cluster = [first]
        if first.contingency is ContingencyType.OCO:
            linked = {first.client_order_id, *first.linked_ids}
            more = [o for o in pending if o.client_order_id in linked
                    or first.client_order_id in o.linked_ids]
            cluster += more
            pending = [o for o in pending if o not in more]
        if len(cluster) == 1:
            bodies.append(node_of(first))
            layouts.append(Layout(first.client_order_id))
            continue
        bodies.append({"orderStrategyType": "OCO",
                       "childOrderStrategies": [node_of(o) for o in cluster]})
        layouts.append(Layout("", [Layout(o.client_order_id) for o in cluster]))
    return bodies, layouts


# -- finding an order again -------------------------------------------------------------------


def walk_json(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A Schwab order JSON and every order under it, root first."""
    out: list[Mapping[str, Any]] = [node]
    for child in node.get("childOrderStrategies") or []:
        if isinstance(child, Mapping):
            out += walk_json(child)
    return out


def _canon(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return _number(Decimal(str(value)))
    except ArithmeticError:
        return str(value)


def fingerprint(node: Mapping[str, Any]) -> str:
    """What identifies an order Schwab holds without our id: strategy, type, session,
    duration, security, instruction, quantity and prices, with its children's. The same for
    the JSON we send and the JSON Schwab answers with."""
    legs = node.get("orderLegCollection") or [{}]
    leg = legs[0] if isinstance(legs[0], Mapping) else {}
    instrument = leg.get("instrument") or {}
    kind = str(node.get("orderType", ""))
    parts = [str(node.get("orderStrategyType", "")), kind, str(node.get("session", "")),
             str(node.get("duration", "")), str(instrument.get("symbol", "")),
             str(leg.get("instruction", "")), _canon(leg.get("quantity")),
             _canon(node.get("price")),
             "" if kind == "TRAILING_STOP" else _canon(node.get("stopPrice")),
             _canon(node.get("stopPriceOffset"))]
    children = [fingerprint(c) for c in node.get("childOrderStrategies") or []
                if isinstance(c, Mapping)]
    return "|".join(parts) + (f"[{';'.join(children)}]" if children else "")


__all__ = ["DURATIONS", "INSTRUCTIONS", "OPTION_SYMBOL", "ORDER_TYPES", "SESSIONS", "Layout",
           "asset_type", "fingerprint", "group_ids", "group_json", "instruction_for",
           "is_linked", "is_option", "single_json", "walk_json"]
