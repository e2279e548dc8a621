"""Our orders as cTrader requests: ``ProtoOANewOrderReq`` and ``ProtoOAAmendOrderReq`` bodies.

Every order carries our client order id as cTrader's ``clientOrderId`` (50 characters at most)
and the adapter's label. Stop-loss and take-profit ride on an order's tags, as absolute prices
(``"sl=1.0800"``, ``"tp=1.0950"``) or as distances from the fill price
(``"sl_distance=0.0020"``, ``"tp_distance=0.0040"``, sent as cTrader's relative stops in
1/100000). cTrader takes no absolute stops on market orders: give those distances. cTrader
moves the stops to the position the order opens and closes the position when one is reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader import parse
from tradeloop.brokers.ctrader.parse import SymbolInfo
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.orders import Order

#: cTrader's longest ``clientOrderId``.
MAX_CLIENT_ORDER_ID = 50
_TAGS = ("sl", "tp", "sl_distance", "tp_distance")


@dataclass(frozen=True)
class Protection:
    """Stop-loss and take-profit of an order: absolute prices or distances."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss_distance: Decimal | None = None
    take_profit_distance: Decimal | None = None

    @property
    def empty(self) -> bool:
        """True when the order has neither."""
        return all(v is None for v in (self.stop_loss, self.take_profit,
                                       self.stop_loss_distance, self.take_profit_distance))


def protection(tags: Iterable[str]) -> Protection:
    """The stop-loss and take-profit an order's tags ask for.

    Raises
    ------
    ValueError
        A value that is not a positive number, or both a price and a distance for one stop.
    """
    found: dict[str, Decimal] = {}
    for item in tags:
        key, _, value = item.partition("=")
        name = key.strip().lower()
        if name not in _TAGS or not value:
            continue
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            number = Decimal("NaN")
        if not number.is_finite() or number <= 0:
            raise ValueError(f"order tag {item!r}: {name} must be a positive number")
        found[name] = number
    for stop in ("sl", "tp"):
        if stop in found and f"{stop}_distance" in found:
            raise ValueError(f"order tags: give {stop} or {stop}_distance, not both")
    return Protection(found.get("sl"), found.get("tp"), found.get("sl_distance"),
                      found.get("tp_distance"))


def _protection_fields(order: Order, info: SymbolInfo) -> dict[str, Any]:
    stops = protection(order.tags)
    if stops.empty:
        return {}
    if order.order_type is OrderType.MARKET and (stops.stop_loss is not None
                                                 or stops.take_profit is not None):
        raise ValueError("cTrader takes no absolute stop-loss or take-profit on a market "
                         "order: tag it with sl_distance= or tp_distance= instead")
    out: dict[str, Any] = {}
    if stops.stop_loss is not None:
        out["stopLoss"] = float(stops.stop_loss.quantize(info.tick))
    if stops.take_profit is not None:
        out["takeProfit"] = float(stops.take_profit.quantize(info.tick))
    if stops.stop_loss_distance is not None:
        out["relativeStopLoss"] = parse.to_relative(stops.stop_loss_distance)
    if stops.take_profit_distance is not None:
        out["relativeTakeProfit"] = parse.to_relative(stops.take_profit_distance)
    return out


def check_volume(quantity: Decimal, info: SymbolInfo) -> int:
    """The volume (cents) of ``quantity``, checked against the symbol's steps.

    Raises
    ------
    ValueError
        Finer than a cent, below the minimum, off the step or above the maximum.
    """
    volume = parse.quantity_to_volume(quantity)
    if volume < info.min_volume:
        raise ValueError(f"{info.name}: quantity {quantity} is below the minimum "
                         f"{parse.volume_to_quantity(info.min_volume)}")
    if info.step_volume and volume % info.step_volume:
        raise ValueError(f"{info.name}: quantity {quantity} is not a multiple of the step "
                         f"{parse.volume_to_quantity(info.step_volume)}")
    if info.max_volume and volume > info.max_volume:
        raise ValueError(f"{info.name}: quantity {quantity} is above the maximum "
                         f"{parse.volume_to_quantity(info.max_volume)}")
    return volume


def _price(value: Decimal | None, what: str, order: Order, info: SymbolInfo) -> float:
    if value is None:
        raise ValueError(f"a {order.order_type.value} order needs a {what}")
    return float(value.quantize(info.tick))


def new_order(order: Order, info: SymbolInfo, label: str,
              position_id: int | None = None) -> dict[str, Any]:
    """The ``ProtoOANewOrderReq`` fields of ``order`` (account id left to the client).

    Raises
    ------
    ValueError
        What cTrader cannot take: an order type or time in force it lacks, a volume off the
        symbol's steps, a client order id over 50 characters, bad stop tags.
    """
    kind = parse.ORDER_TYPES.get(order.order_type)
    if kind is None:
        raise ValueError(f"cTrader has no {order.order_type.value} orders")
    if len(order.client_order_id) > MAX_CLIENT_ORDER_ID:
        raise ValueError(f"client order id {order.client_order_id!r} is longer than cTrader's "
                         f"{MAX_CLIENT_ORDER_ID} characters")
    body: dict[str, Any] = {
        "symbolId": info.symbol_id, "orderType": kind,
        "tradeSide": parse.trade_side(order.side),
        "volume": check_volume(order.quantity, info),
        "clientOrderId": order.client_order_id, "label": label or None,
        "comment": order.strategy_id or None, "positionId": position_id,
    }
    tif = order.time_in_force
    if tif not in parse.TIME_IN_FORCE:
        raise ValueError(f"cTrader has no {tif.value} time in force")
    if order.order_type is OrderType.MARKET:
        if tif in (TimeInForce.IOC, TimeInForce.FOK):
            body["timeInForce"] = parse.TIME_IN_FORCE[tif]
    else:
        body["timeInForce"] = parse.TIME_IN_FORCE[tif]
    if tif is TimeInForce.GTD:
        if order.expire_ns is None:
            raise ValueError("a GTD order needs an expiry time")
        body["expirationTimestamp"] = order.expire_ns // parse.NS_PER_MS
    if order.order_type is OrderType.LIMIT:
        body["limitPrice"] = _price(order.price, "limit price", order, info)
    elif order.order_type is OrderType.STOP:
        body["stopPrice"] = _price(order.trigger_price, "trigger price", order, info)
    elif order.order_type is OrderType.STOP_LIMIT:
        body["stopPrice"] = _price(order.trigger_price, "trigger price", order, info)
        _price(order.price, "limit price", order, info)
        assert order.trigger_price is not None and order.price is not None
        body["slippageInPoints"] = parse.points_between(order.trigger_price, order.price,
                                                        order.side, info)
    body.update(_protection_fields(order, info))
    return {k: v for k, v in body.items() if v is not None}


def amend_order(order: Order, order_id: int, info: SymbolInfo, quantity: Decimal | None,
                price: Decimal | None, trigger_price: Decimal | None) -> dict[str, Any]:
    """The ``ProtoOAAmendOrderReq`` fields that change a working order.

    Raises
    ------
    ValueError
        A change cTrader cannot make (a price the order type has no use for, a volume off
        the steps).
    """
    body: dict[str, Any] = {"orderId": order_id}
    if quantity is not None:
        body["volume"] = check_volume(quantity, info)
    kind = order.order_type
    if price is not None and kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise ValueError(f"a {kind.value} order has no limit price to change")
    if trigger_price is not None and kind not in (OrderType.STOP, OrderType.STOP_LIMIT):
        raise ValueError(f"a {kind.value} order has no trigger price to change")
    if kind is OrderType.LIMIT and price is not None:
        body["limitPrice"] = float(price.quantize(info.tick))
    if kind is OrderType.STOP and trigger_price is not None:
        body["stopPrice"] = float(trigger_price.quantize(info.tick))
    if kind is OrderType.STOP_LIMIT and (price is not None or trigger_price is not None):
        stop = trigger_price if trigger_price is not None else order.trigger_price
        limit = price if price is not None else order.price
        if stop is None or limit is None:
            raise ValueError("a stop-limit order needs its trigger and limit prices")
        body["stopPrice"] = float(stop.quantize(info.tick))
        body["slippageInPoints"] = parse.points_between(stop, limit, order.side, info)
    if order.time_in_force is TimeInForce.GTD and order.expire_ns is not None:
        body["expirationTimestamp"] = order.expire_ns // parse.NS_PER_MS
    return body


def closing_position(positions: Iterable[dict[str, Any]], order: Order, info: SymbolInfo,
                     volume: int) -> int | None:
    """On a hedging account, the open position a market order should reduce instead of
    opening a hedge: one of the symbol on the other side with at least the order's volume
    (an exact size first, then the oldest)."""
    if order.order_type is not OrderType.MARKET:
        return None
    opposite = parse.trade_side(order.side.opposite)
    candidates = []
    for pos in positions:
        data = pos.get("tradeData", {})
        if int(data.get("symbolId", 0)) != info.symbol_id \
                or int(data.get("tradeSide", 0)) != opposite \
                or int(pos.get("positionStatus", m.PositionStatus.POSITION_STATUS_OPEN)) \
                != m.PositionStatus.POSITION_STATUS_OPEN:
            continue
        size = int(data.get("volume", 0))
        if size >= volume:
            candidates.append((size != volume, int(data.get("openTimestamp", 0) or 0),
                               int(pos["positionId"])))
    return min(candidates)[2] if candidates else None


__all__ = ["MAX_CLIENT_ORDER_ID", "Protection", "amend_order", "check_volume",
           "closing_position", "new_order", "protection"]
