"""Fyers' payloads in our terms, and our orders in Fyers' terms.

Fyers writes order and trade times as IST text (``"09-Mar-2023 09:34:38"``; the trade book
also ``"07-08-2020 13:51:12"``) or, on the order socket, as epoch seconds; they become UTC
nanoseconds here, at the edge. Prices and quantities become ``Decimal`` through their shortest
text, so ``6.95`` stays ``6.95``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tradeloop.brokers.fyers.errors import FyersFatalError
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

IST = ZoneInfo("Asia/Kolkata")
ZERO = Decimal(0)
#: Fyers' order status codes.
CANCELLED, FILLED, TRANSIT, REJECTED, PENDING, EXPIRED = 1, 2, 4, 5, 6, 7
#: Our order types -> Fyers' ``type``.
ORDER_TYPES = {OrderType.LIMIT: 1, OrderType.MARKET: 2, OrderType.STOP: 3,
               OrderType.STOP_LIMIT: 4}
_TYPES_BACK = {v: k for k, v in ORDER_TYPES.items()}
_FORMATS = ("%d-%b-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")
#: The order socket's raw field names -> the order book's.
SOCKET_ORDER_FIELDS = {
    "id": "id", "id_parent": "parentId", "id_exchange": "exchOrdId", "qty": "qty",
    "qty_remaining": "remainingQuantity", "qty_filled": "filledQty",
    "price_limit": "limitPrice", "price_stop": "stopPrice", "price_traded": "tradedPrice",
    "ord_type": "type", "symbol": "symbol", "status_msg": "message", "validity":
    "orderValidity", "product_type": "productType", "tran_side": "side",
    "org_ord_status": "status", "ordertag": "orderTag", "update_time_epoch_oms":
    "orderDateTime", "price_sl": "stopLoss", "price_target": "takeProfit",
}


def decimal(value: Any) -> Decimal:
    """A number as ``Decimal`` through its shortest text (0 for nothing)."""
    if value in (None, ""):
        return ZERO
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def ist_ns(value: Any) -> int:
    """UTC nanoseconds of a Fyers time: IST text or epoch seconds (0 when unreadable)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * NANOS_PER_SECOND) if value > 0 else 0
    text = str(value or "").strip()
    if text.isdigit():
        return int(text) * NANOS_PER_SECOND
    for fmt in _FORMATS:
        try:
            moment = dt.datetime.strptime(text, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
        return int(moment.timestamp()) * NANOS_PER_SECOND
    return 0


def side_of(value: Any) -> OrderSide:
    """``1`` buy, ``-1`` sell."""
    return OrderSide.BUY if int(value or 0) > 0 else OrderSide.SELL


def status_of(entry: dict[str, Any]) -> OrderStatus:
    """Our status of an order book entry."""
    code = int(entry.get("status") or 0)
    filled = decimal(entry.get("filledQty"))
    if code == FILLED:
        return OrderStatus.FILLED
    if code == CANCELLED:
        return OrderStatus.CANCELED
    if code == REJECTED:
        return OrderStatus.REJECTED
    if code == EXPIRED:
        return OrderStatus.EXPIRED
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED


def socket_order(raw: dict[str, Any]) -> dict[str, Any]:
    """An order socket message's order in the order book's field names (names already in
    that form are kept)."""
    out = dict(raw)
    for source, target in SOCKET_ORDER_FIELDS.items():
        if source in raw and target not in raw:
            out[target] = raw[source]
    if "id" in raw:
        out["id"] = raw["id"]
    return out


def order_report(entry: dict[str, Any], client_order_id: str) -> OrderStatusReport:
    """An order book entry as a report."""
    kind = _TYPES_BACK.get(int(entry.get("type") or 2), OrderType.MARKET)
    limit, stop = decimal(entry.get("limitPrice")), decimal(entry.get("stopPrice"))
    traded = decimal(entry.get("tradedPrice"))
    status = status_of(entry)
    ts = ist_ns(entry.get("orderDateTime"))
    validity = str(entry.get("orderValidity") or "DAY").upper()
    return OrderStatusReport(
        client_order_id=client_order_id, venue_order_id=str(entry.get("id") or ""),
        symbol=str(entry.get("symbol") or ""), side=side_of(entry.get("side")),
        order_type=kind, quantity=decimal(entry.get("qty")),
        filled_qty=decimal(entry.get("filledQty")), avg_px=traded if traded > 0 else None,
        status=status,
        price=limit if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit > 0 else None,
        trigger_price=stop if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and stop > 0
        else None,
        time_in_force=TimeInForce.IOC if validity == "IOC" else TimeInForce.DAY,
        reason=str(entry.get("message") or "") if status in (
            OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED) else "",
        ts_accepted=ts, ts_last=ts)


def fill_report(trade: dict[str, Any], client_order_id: str) -> FillReport:
    """A trade book entry as a fill (Fyers' API reports no commission per trade)."""
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(trade.get("orderNumber") or ""),
        trade_id=str(trade.get("tradeNumber") or ""), symbol=str(trade.get("symbol") or ""),
        side=side_of(trade.get("side")), quantity=decimal(trade.get("tradedQty")),
        price=decimal(trade.get("tradePrice")), commission_currency="INR",
        ts=ist_ns(trade.get("orderDateTime")))


def position_reports(rows: list[dict[str, Any]], now_ns: int) -> list[PositionReport]:
    """Net positions per symbol (Fyers keeps one per symbol and product)."""
    net: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    for row in rows:
        symbol = str(row.get("symbol") or "")
        qty = decimal(row.get("netQty"))
        net[symbol] = net.get(symbol, ZERO) + qty
        cost[symbol] = cost.get(symbol, ZERO) + qty * decimal(row.get("netAvg"))
    out = []
    for symbol, qty in net.items():
        if qty == 0:
            continue
        avg = (cost[symbol] / qty).quantize(Decimal("0.0001")) if qty else None
        out.append(PositionReport(symbol=symbol, quantity=qty, avg_px=avg, ts=now_ns))
    return out


def account_report(funds: list[dict[str, Any]], unrealized: Decimal, account_id: str,
                   currency: str, now_ns: int) -> AccountReport:
    """Funds (equity and commodity ledgers together) as a report."""
    by_title = {str(r.get("title") or "").lower(): r for r in funds}

    def amount(title: str) -> Decimal:
        row = by_title.get(title, {})
        return decimal(row.get("equityAmount")) + decimal(row.get("commodityAmount"))

    balance = amount("total balance")
    return AccountReport(account_id=account_id, currency=currency, balance=balance,
                         equity=balance + unrealized, margin_used=amount("utilized amount"),
                         ts=now_ns)


def order_body(order: Order, product: str, tag: str, *, stop_loss: Decimal = ZERO,
               take_profit: Decimal = ZERO) -> dict[str, Any]:
    """The JSON of ``POST /api/v3/orders/sync`` for ``order``.

    Raises
    ------
    FyersFatalError
        An order Fyers cannot take (a type or time in force it has no equivalent for, a
        fractional quantity).
    """
    kind = ORDER_TYPES.get(order.order_type)
    if kind is None:
        raise FyersFatalError(f"Fyers has no {order.order_type.value} orders (market, limit, "
                              "stop and stop-limit only)")
    if order.time_in_force in (TimeInForce.FOK, TimeInForce.GTD):
        raise FyersFatalError(f"Fyers has no {order.time_in_force.value} orders (DAY and IOC "
                              "only)")
    if order.quantity != order.quantity.to_integral_value():
        raise FyersFatalError(f"Fyers takes whole quantities, not {order.quantity}")
    body: dict[str, Any] = {
        "symbol": order.symbol, "qty": int(order.quantity), "type": kind,
        "side": 1 if order.side is OrderSide.BUY else -1, "productType": product,
        "limitPrice": _number(order.price), "stopPrice": _number(order.trigger_price),
        "validity": "IOC" if order.time_in_force is TimeInForce.IOC else "DAY",
        "disclosedQty": 0, "offlineOrder": False, "stopLoss": _number(stop_loss),
        "takeProfit": _number(take_profit), "isSliceOrder": False,
    }
    if tag:
        body["orderTag"] = tag
    return body


def modify_body(venue_order_id: str, order: Order, quantity: Decimal | None,
                price: Decimal | None, trigger: Decimal | None) -> dict[str, Any]:
    """The JSON of ``PATCH /api/v3/orders/sync``: only what changes, with the type."""
    body: dict[str, Any] = {"id": venue_order_id, "type": ORDER_TYPES.get(order.order_type, 1)}
    if quantity is not None:
        if quantity != quantity.to_integral_value():
            raise FyersFatalError(f"Fyers takes whole quantities, not {quantity}")
        body["qty"] = int(quantity)
    if price is not None:
        body["limitPrice"] = _number(price)
    if trigger is not None:
        body["stopPrice"] = _number(trigger)
    return body


def order_tags(order: Order) -> dict[str, str]:
    """``key=value`` words of an order's tags (``"product=BO;stop_loss=2"``), lower-case
    keys."""
    out: dict[str, str] = {}
    for tag in order.tags:
        for word in tag.replace(",", ";").split(";"):
            key, sep, value = word.partition("=")
            if sep:
                out[key.strip().lower()] = value.strip()
    return out


def _number(value: Decimal | None) -> float | int:
    if value is None:
        return 0
    return int(value) if value == value.to_integral_value() else float(value)


__all__ = ["CANCELLED", "EXPIRED", "FILLED", "IST", "ORDER_TYPES", "PENDING", "REJECTED",
           "TRANSIT", "account_report", "decimal", "fill_report", "ist_ns",
           "modify_body", "order_body", "order_report", "order_tags", "position_reports",
           "side_of", "socket_order", "status_of"]
