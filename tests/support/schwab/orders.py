"""Orders of the local Schwab: the order JSON the Trader API takes (checked as Schwab checks it)
and the order JSON it answers with.

A submitted order is a tree: ``orderStrategyType`` SINGLE (one leg), OCO (no leg of its own;
``childOrderStrategies`` are the legs that cancel each other) or TRIGGER (an order with a leg
whose ``childOrderStrategies`` start working once it fills). Every node of the tree gets its own
``orderId``; the one in the ``Location`` header is the root's.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import bad_request

ORDER_TYPES = frozenset({"MARKET", "LIMIT", "STOP", "STOP_LIMIT", "TRAILING_STOP"})
SESSIONS = frozenset({"NORMAL", "AM", "PM", "SEAMLESS"})
DURATIONS = frozenset({"DAY", "GOOD_TILL_CANCEL", "FILL_OR_KILL", "IMMEDIATE_OR_CANCEL",
                       "END_OF_WEEK", "END_OF_MONTH", "NEXT_END_OF_MONTH"})
STRATEGIES = frozenset({"SINGLE", "OCO", "TRIGGER"})
INSTRUCTIONS = {"EQUITY": frozenset({"BUY", "SELL", "BUY_TO_COVER", "SELL_SHORT"}),
                "OPTION": frozenset({"BUY_TO_OPEN", "BUY_TO_CLOSE", "SELL_TO_OPEN",
                                     "SELL_TO_CLOSE"})}
BUYS = frozenset({"BUY", "BUY_TO_COVER", "BUY_TO_OPEN", "BUY_TO_CLOSE"})
LINK_BASES = frozenset({"MANUAL", "BASE", "TRIGGER", "LAST", "BID", "ASK", "ASK_BID", "MARK",
                        "AVERAGE"})
LINK_TYPES = frozenset({"VALUE", "PERCENT", "TICK"})
#: Statuses in which an order can still fill (or start working).
OPEN = frozenset({"WORKING", "AWAITING_PARENT_ORDER", "QUEUED", "ACCEPTED", "PENDING_ACTIVATION",
                  "AWAITING_STOP_CONDITION"})
FINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED"})
CENT = Decimal("0.01")


@dataclass
class Execution:
    """One execution of an order (an ``orderActivityCollection`` entry)."""

    activity_id: int
    quantity: Decimal
    price: Decimal
    time_ms: int
    remaining: Decimal


@dataclass
class StandinOrder:
    """One node of an order tree."""

    order_id: int
    strategy: str
    entered_ms: int
    account_number: str
    session: str = "NORMAL"
    duration: str = "DAY"
    order_type: str = "MARKET"
    price: Decimal | None = None
    stop_price: Decimal | None = None
    link_basis: str = ""
    link_type: str = ""
    offset: Decimal | None = None
    symbol: str = ""
    asset_type: str = ""
    instruction: str = ""
    quantity: Decimal = Decimal(0)
    status: str = "WORKING"
    status_description: str = ""
    executions: list[Execution] = field(default_factory=list)
    children: list[StandinOrder] = field(default_factory=list)
    parent: StandinOrder | None = None
    close_ms: int | None = None
    triggered: bool = False
    extreme: Decimal | None = None  # trailing stops: best basis price seen
    duplicate_reports: bool = False
    out_of_order: bool = False
    tag: str = ""

    @property
    def is_buy(self) -> bool:
        """True for a buying instruction."""
        return self.instruction in BUYS

    @property
    def filled(self) -> Decimal:
        """Quantity executed so far."""
        return sum((e.quantity for e in self.executions), Decimal(0))

    @property
    def remaining(self) -> Decimal:
        """Quantity left to execute."""
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        """True while it can still fill or start working."""
        return self.status in OPEN

    def walk(self) -> list[StandinOrder]:
        """This node and every node under it, root first."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def root(self) -> StandinOrder:
        """The top of this node's tree."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node


# -- the JSON that comes in -----------------------------------------------------------------


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise bad_request(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(f"{name} must be a number") from None
    if not number.is_finite():
        raise bad_request(f"{name} must be a number")
    return number


def _enum(body: dict[str, Any], key: str, allowed: frozenset[str], default: str | None = None
          ) -> str:
    value = body.get(key, default)
    if value is None:
        raise bad_request(f"{key} is required")
    if value not in allowed:
        raise bad_request(f"{key} {value!r} is not one of {', '.join(sorted(allowed))}")
    return str(value)


def _on_tick(price: Decimal, name: str) -> Decimal:
    if price <= 0:
        raise bad_request(f"{name} must be positive")
    if price != price.quantize(CENT) and not (price < 1 and price == price.quantize(
            Decimal("0.0001"))):
        raise bad_request(f"{name} {price} is not a valid price increment")
    return price


def parse_order(body: Any, new_id: Any, now_ms: int, account_number: str,
                known_symbol: Any) -> StandinOrder:
    """An order tree from a submitted JSON body.

    Parameters
    ----------
    new_id : callable
        Returns a fresh order id.
    known_symbol : callable
        ``known_symbol(symbol) -> asset type or None``.

    Raises
    ------
    SchwabError
        400 with what is wrong.
    """
    if not isinstance(body, dict):
        raise bad_request("the order must be a JSON object")
    strategy = _enum(body, "orderStrategyType", STRATEGIES)
    order = StandinOrder(new_id(), strategy, now_ms, account_number)
    children = body.get("childOrderStrategies") or []
    if not isinstance(children, list):
        raise bad_request("childOrderStrategies must be a list")
    if strategy == "OCO":
        if len(children) < 2:
            raise bad_request("an OCO order needs at least two childOrderStrategies")
        if body.get("orderLegCollection"):
            raise bad_request("an OCO order has no orderLegCollection of its own")
        order.status = "WORKING"
    else:
        _fill_single(order, body, known_symbol)
        if strategy == "TRIGGER" and not children:
            raise bad_request("a TRIGGER order needs childOrderStrategies")
        if strategy == "SINGLE" and children:
            raise bad_request("a SINGLE order has no childOrderStrategies")
    for raw in children:
        child = parse_order(raw, new_id, now_ms, account_number, known_symbol)
        child.parent = order
        order.children.append(child)
    return order


def _fill_single(order: StandinOrder, body: dict[str, Any], known_symbol: Any) -> None:
    order.order_type = _enum(body, "orderType", ORDER_TYPES)
    order.session = _enum(body, "session", SESSIONS)
    order.duration = _enum(body, "duration", DURATIONS)
    legs = body.get("orderLegCollection")
    if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict):
        raise bad_request("orderLegCollection must hold exactly one leg here")
    leg = legs[0]
    instrument = leg.get("instrument") or {}
    symbol = str(instrument.get("symbol") or "")
    asset = known_symbol(symbol)
    if asset is None:
        raise bad_request(f"symbol {symbol!r} is not valid")
    if instrument.get("assetType") != asset:
        raise bad_request(f"{symbol} has assetType {asset}, not {instrument.get('assetType')!r}")
    order.symbol, order.asset_type = symbol, asset
    order.instruction = _enum(leg, "instruction", INSTRUCTIONS[asset])
    quantity = _decimal(leg.get("quantity"), "quantity")
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise bad_request("quantity must be a whole number above zero (no fractional orders)")
    order.quantity = quantity
    if order.order_type in ("LIMIT", "STOP_LIMIT"):
        order.price = _on_tick(_decimal(body.get("price"), "price"), "price")
    if order.order_type in ("STOP", "STOP_LIMIT"):
        order.stop_price = _on_tick(_decimal(body.get("stopPrice"), "stopPrice"), "stopPrice")
    if order.order_type == "TRAILING_STOP":
        order.link_basis = _enum(body, "stopPriceLinkBasis", LINK_BASES)
        order.link_type = _enum(body, "stopPriceLinkType", LINK_TYPES)
        order.offset = _decimal(body.get("stopPriceOffset"), "stopPriceOffset")
        if order.offset <= 0:
            raise bad_request("stopPriceOffset must be positive")
    if order.order_type == "MARKET" and order.duration in ("GOOD_TILL_CANCEL",):
        raise bad_request("a MARKET order cannot be GOOD_TILL_CANCEL")


# -- the JSON that goes out -----------------------------------------------------------------


def schwab_time(ms: int) -> str:
    """``2024-05-06T14:30:00+0000``, as Schwab writes times in answers."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def order_json(order: StandinOrder) -> dict[str, Any]:
    """The order as ``GET .../orders/{orderId}`` answers it (children nested)."""
    out: dict[str, Any] = {
        "orderStrategyType": order.strategy, "orderId": order.order_id,
        "status": order.status, "enteredTime": schwab_time(order.entered_ms),
        "accountNumber": int(order.account_number),
        "cancelable": order.is_open, "editable": order.is_open and order.strategy != "OCO",
        "complexOrderStrategyType": "NONE", "requestedDestination": "AUTO",
        "destinationLinkName": "AutoRoute",
    }
    if order.tag:
        out["tag"] = order.tag
    if order.close_ms is not None:
        out["closeTime"] = schwab_time(order.close_ms)
    if order.status_description:
        out["statusDescription"] = order.status_description
    if order.strategy != "OCO":
        out.update({
            "session": order.session, "duration": order.duration,
            "orderType": order.order_type, "quantity": _num(order.quantity),
            "filledQuantity": _num(order.filled), "remainingQuantity": _num(order.remaining),
            "orderLegCollection": [{
                "orderLegType": order.asset_type, "legId": 1,
                "instrument": {"assetType": order.asset_type, "symbol": order.symbol,
                               "instrumentId": zlib.crc32(order.symbol.encode())},
                "instruction": order.instruction,
                "positionEffect": "CLOSING" if "CLOSE" in order.instruction
                or order.instruction in ("SELL", "BUY_TO_COVER") else "OPENING",
                "quantity": _num(order.quantity)}],
        })
        if order.price is not None:
            out["price"] = _num(order.price)
        if order.stop_price is not None:
            out["stopPrice"] = _num(order.stop_price)
        if order.order_type == "TRAILING_STOP" and order.offset is not None:
            out.update({"stopPriceLinkBasis": order.link_basis,
                        "stopPriceLinkType": order.link_type,
                        "stopPriceOffset": _num(order.offset), "stopType": "STANDARD"})
        activities = [_activity(order, e) for e in order.executions]
        if order.duplicate_reports:
            activities = [a for a in activities for _ in (0, 1)]
        if order.out_of_order:
            activities.reverse()
        if activities:
            out["orderActivityCollection"] = activities
    if order.children:
        out["childOrderStrategies"] = [order_json(c) for c in order.children]
    return out


def _activity(order: StandinOrder, e: Execution) -> dict[str, Any]:
    return {"activityType": "EXECUTION", "activityId": e.activity_id, "executionType": "FILL",
            "quantity": _num(e.quantity), "orderRemainingQuantity": _num(e.remaining),
            "executionLegs": [{"legId": 1, "quantity": _num(e.quantity), "mismarkedQuantity": 0,
                               "price": _num(e.price), "time": schwab_time(e.time_ms),
                               "instrumentId": zlib.crc32(order.symbol.encode())}]}


_QUERY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def query_time(text: str | None, name: str) -> int:
    """``fromEnteredTime``/``toEnteredTime`` (``yyyy-MM-dd'T'HH:mm:ss.SSSZ``) in ms.

    Raises
    ------
    SchwabError
        400 when it is missing or not in that format.
    """
    if not text:
        raise bad_request(f"{name} is required")
    if not _QUERY_TIME.match(text):
        raise bad_request(f"{name} {text!r} is not in the format yyyy-MM-dd'T'HH:mm:ss.SSSZ")
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


__all__ = ["BUYS", "FINAL", "OPEN", "Execution", "StandinOrder", "order_json", "parse_order",
           "query_time", "schwab_time"]
