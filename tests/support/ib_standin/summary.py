"""The key fields the gateway's ``log`` keeps for each message or request, so tests can assert
on what a client saw and in which order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Summary = dict[str, Any]


def _open_order(a: tuple[Any, ...]) -> Summary:
    order, state = a[2], a[3]
    return {"orderId": a[0], "status": state.status, "orderRef": order.orderRef,
            "permId": order.permId}


def _order_status(a: tuple[Any, ...]) -> Summary:
    return {"orderId": a[0], "status": a[1], "filled": a[2], "remaining": a[3],
            "permId": a[5]}


def _exec_details(a: tuple[Any, ...]) -> Summary:
    ex = a[2]
    return {"reqId": a[0], "execId": ex.execId, "orderId": ex.orderId, "orderRef": ex.orderRef,
            "side": ex.side, "shares": ex.shares, "price": ex.price}


def _completed(a: tuple[Any, ...]) -> Summary:
    return {"permId": a[1].permId, "orderRef": a[1].orderRef, "status": a[2].status}


def _error(a: tuple[Any, ...]) -> Summary:
    return {"reqId": a[0], "code": a[1], "message": a[2]}


def _position(a: tuple[Any, ...]) -> Summary:
    return {"localSymbol": a[1].localSymbol, "position": a[2]}


def _tick(a: tuple[Any, ...]) -> Summary:
    return {"reqId": a[0], "tickType": a[1], "value": a[2]}


def _place(a: tuple[Any, ...]) -> Summary:
    order = a[2]
    return {"orderId": a[0], "orderRef": order.orderRef, "action": order.action,
            "quantity": order.totalQuantity, "orderType": order.orderType,
            "transmit": order.transmit}


_BY_NAME: dict[str, Callable[[tuple[Any, ...]], Summary]] = {
    "openOrder": _open_order,
    "orderStatus": _order_status,
    "execDetails": _exec_details,
    "commissionReport": lambda a: {"execId": a[0].execId, "commission": a[0].commission},
    "completedOrder": _completed,
    "error": _error,
    "position": _position,
    "priceSizeTick": _tick,
    "tickSize": _tick,
    "realtimeBar": lambda a: {"reqId": a[0], "time": a[1], "close": a[5]},
    "historicalData": lambda a: {"reqId": a[0], "date": a[1].date},
    "nextValidId": lambda a: {"orderId": a[0]},
    "updateAccountValue": lambda a: {"tag": a[0], "value": a[1], "currency": a[2]},
    "accountUpdateMulti": lambda a: {"reqId": a[0], "tag": a[3], "value": a[4],
                                     "currency": a[5]},
    "updatePortfolio": lambda a: {"localSymbol": a[0].localSymbol, "position": a[1]},
    "contractDetails": lambda a: {"reqId": a[0], "localSymbol": a[1].contract.localSymbol},
    "client.placeOrder": _place,
    "client.cancelOrder": lambda a: {"orderId": a[0]},
}


def summarize(name: str, args: tuple[Any, ...]) -> Summary:
    """The key fields of one message (the first int argument as ``reqId`` when unknown)."""
    fn = _BY_NAME.get(name)
    if fn is not None:
        return fn(args)
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        return {"reqId": args[0]}
    return {}
