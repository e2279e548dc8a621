"""Our orders as alpaca-py order requests.

==================  ==============  ===========================================================
ours                Alpaca          fields
==================  ==============  ===========================================================
MARKET              market
LIMIT               limit           limit_price
STOP                stop            stop_price = trigger
STOP_LIMIT          stop_limit      stop_price = trigger, limit_price
TRAILING_STOP       trailing_stop   trail_price (offset in price) or trail_percent
==================  ==============  ===========================================================

Time in force: DAY, GTC, IOC and FOK; a DAY order tagged ``"at_open"`` or ``"at_close"`` goes
to the opening or closing auction (``opg``, ``cls``). Crypto takes MARKET, LIMIT and
STOP_LIMIT with GTC or IOC only. Our client order id is Alpaca's ``client_order_id``; the
``n``-th replacement of an order carries ``<id>.r<n>``. A stock order works in the pre- and
after-market (``extended_hours``) when its tags say ``"outside_rth"`` (``"rth_only"`` forbids
it), else as ``extended_hours`` in the settings, where Alpaca allows it (LIMIT DAY orders).

Contingent groups are Alpaca's own order classes, sent as one request under the client order
id of their main order:

* a bracket: an entry (MARKET or LIMIT, OTO) with two exits that cancel each other, one LIMIT
  (``take_profit``) and one STOP or STOP_LIMIT (``stop_loss``), on the other side, each for the
  entry's quantity;
* OTO: an entry with one such exit;
* OCO: a LIMIT and a STOP (or STOP_LIMIT) exit on the same side and quantity, without a
  parent; the LIMIT is the main order.

Alpaca names the exit legs itself; :mod:`.ids` remembers which leg is which of our orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from alpaca.trading.enums import OrderClass
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from tradeloop.brokers.alpaca.errors import AlpacaFatalError
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

OUTSIDE_RTH_TAG = "outside_rth"
RTH_ONLY_TAG = "rth_only"
AT_OPEN_TAG, AT_CLOSE_TAG = "at_open", "at_close"
CRYPTO_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})
CRYPTO_TIF = frozenset({TimeInForce.GTC, TimeInForce.IOC})
_TIF = {TimeInForce.DAY: AlpacaTif.DAY, TimeInForce.GTC: AlpacaTif.GTC,
        TimeInForce.IOC: AlpacaTif.IOC, TimeInForce.FOK: AlpacaTif.FOK}
_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


def is_crypto(symbol: str) -> bool:
    """True for Alpaca's crypto pairs (``BTC/USD``)."""
    return "/" in symbol


def _refuse(order: Order, why: str) -> AlpacaFatalError:
    return AlpacaFatalError("NOT_SUPPORTED", f"{order.client_order_id}: {why}")


def _tags(order: Order) -> set[str]:
    return {t.strip().lower() for t in order.tags}


def extended_hours(order: Order, default: bool) -> bool:
    """Whether ``order`` may work in the pre- and after-market.

    Raises
    ------
    AlpacaFatalError
        The order is tagged ``outside_rth`` but Alpaca cannot work it so (not a LIMIT DAY
        stock order).
    """
    tags = _tags(order)
    eligible = (order.order_type is OrderType.LIMIT and order.time_in_force is TimeInForce.DAY
                and not is_crypto(order.symbol))
    if RTH_ONLY_TAG in tags:
        return False
    if OUTSIDE_RTH_TAG in tags:
        if not eligible:
            raise _refuse(order, "Alpaca takes extended-hours orders only as LIMIT orders with "
                          "DAY time in force on stocks")
        return True
    return default and eligible


def time_in_force(order: Order) -> AlpacaTif:
    """Alpaca's time in force of ``order``.

    Raises
    ------
    AlpacaFatalError
        GTD, or a time in force crypto does not take.
    """
    tif = order.time_in_force
    if tif not in _TIF:
        raise _refuse(order, f"Alpaca has no {tif.value} time in force")
    if is_crypto(order.symbol) and tif not in CRYPTO_TIF:
        raise _refuse(order, f"Alpaca takes crypto orders with GTC or IOC only, not "
                      f"{tif.value}")
    tags = _tags(order)
    if tif is TimeInForce.DAY and AT_OPEN_TAG in tags:
        return AlpacaTif.OPG
    if tif is TimeInForce.DAY and AT_CLOSE_TAG in tags:
        return AlpacaTif.CLS
    return _TIF[tif]


def _need(value: Decimal | None, order: Order, what: str) -> float:
    if value is None:
        raise _refuse(order, f"a {order.order_type.value} order needs {what}")
    return float(value)


def _common(order: Order, extended_default: bool) -> dict[str, object]:
    if is_crypto(order.symbol) and order.order_type not in CRYPTO_TYPES:
        raise _refuse(order, f"Alpaca takes crypto orders as MARKET, LIMIT or STOP_LIMIT, not "
                      f"{order.order_type.value}")
    fields: dict[str, object] = {
        "symbol": order.symbol, "qty": float(order.quantity),
        "side": AlpacaSide.BUY if order.side is OrderSide.BUY else AlpacaSide.SELL,
        "time_in_force": time_in_force(order), "client_order_id": order.client_order_id}
    if extended_hours(order, extended_default):
        fields["extended_hours"] = True
    return fields


def build_request(order: Order, *, extended_default: bool) -> OrderRequest:
    """The request of a simple order.

    Raises
    ------
    AlpacaFatalError
        An order Alpaca cannot take as it is (a missing price, a type crypto lacks...).
    """
    fields = _common(order, extended_default)
    kind = order.order_type
    if kind is OrderType.MARKET:
        return MarketOrderRequest(**fields)
    if kind is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=_need(order.price, order, "a limit price"),
                                 **fields)
    if kind is OrderType.STOP:
        return StopOrderRequest(stop_price=_need(order.trigger_price, order, "a trigger price"),
                                **fields)
    if kind is OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(
            stop_price=_need(order.trigger_price, order, "a trigger price"),
            limit_price=_need(order.price, order, "a limit price"), **fields)
    if kind is OrderType.TRAILING_STOP:
        offset = _need(order.trailing_offset, order, "a trailing offset")
        if order.trailing_offset_type is TrailingOffsetType.PERCENT:
            return TrailingStopOrderRequest(trail_percent=offset, **fields)
        return TrailingStopOrderRequest(trail_price=offset, **fields)
    raise _refuse(order, f"Alpaca has no {kind.value} orders")


@dataclass(frozen=True)
class Group:
    """A contingent group as Alpaca takes it.

    Attributes
    ----------
    order_class : str
        ``bracket``, ``oto`` or ``oco``.
    main : Order
        The order whose client order id the request carries.
    take_profit, stop_loss : Order or None
        The exits (Alpaca's legs; in an OCO group the take-profit is ``main``).
    """

    order_class: str
    main: Order
    take_profit: Order | None
    stop_loss: Order | None

    @property
    def legs(self) -> list[Order]:
        """Our orders Alpaca will hold as legs of ``main``, in the order it lists them."""
        out = [] if self.order_class == "oco" else [self.take_profit]
        return [o for o in (*out, self.stop_loss) if o is not None]


def group_key(order: Order) -> str | None:
    """The key of the contingent group ``order`` belongs to (None for a simple order): the
    parent's id for OTO groups and brackets, the smallest id of an OCO group."""
    if order.parent_id:
        return order.parent_id
    if order.contingency is ContingencyType.OTO and order.linked_ids:
        return order.client_order_id
    if order.contingency is ContingencyType.OCO and order.linked_ids:
        return min((order.client_order_id, *order.linked_ids))
    return None


def group_members(order: Order) -> set[str] | None:
    """Every id of ``order``'s group when ``order`` can tell (None for a bracket child, which
    does not know its parent's other children)."""
    if order.parent_id:
        return None
    return {order.client_order_id, *order.linked_ids}


def shape_group(orders: Sequence[Order]) -> Group:
    """How a complete group of our orders goes to Alpaca.

    Raises
    ------
    AlpacaFatalError
        A group Alpaca's order classes cannot express.
    """
    parents = [o for o in orders if o.contingency is ContingencyType.OTO and o.linked_ids
               and not o.parent_id]
    exits = [o for o in orders if o not in parents]
    first = orders[0]
    if any(is_crypto(o.symbol) for o in orders):
        raise _refuse(first, "Alpaca takes crypto orders as simple orders only (no bracket, "
                      "OCO or OTO)")
    if len({o.symbol for o in orders}) != 1:
        raise _refuse(first, "every order of a contingent group must trade the same symbol")
    limits = [o for o in exits if o.order_type is OrderType.LIMIT]
    stops = [o for o in exits if o.order_type in _STOPS]
    if len(limits) + len(stops) != len(exits) or len(limits) > 1 or len(stops) > 1:
        raise _refuse(first, "Alpaca's exits are one LIMIT (take profit) and/or one STOP or "
                      "STOP_LIMIT (stop loss)")
    take_profit = limits[0] if limits else None
    stop_loss = stops[0] if stops else None
    if len(parents) > 1:
        raise _refuse(first, "a contingent group has one parent at most")
    if parents:
        entry = parents[0]
        if entry.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise _refuse(entry, "Alpaca's bracket and OTO entries are MARKET or LIMIT orders")
        if any(o.side is entry.side or o.quantity != entry.quantity for o in exits):
            raise _refuse(entry, "Alpaca's exits are on the other side of the entry, for its "
                          "quantity")
        kind = "bracket" if take_profit is not None and stop_loss is not None else "oto"
        return Group(kind, entry, take_profit, stop_loss)
    if take_profit is None or stop_loss is None:
        raise _refuse(first, "Alpaca's OCO is a LIMIT and a STOP (or STOP_LIMIT) exit")
    if take_profit.side is not stop_loss.side or take_profit.quantity != stop_loss.quantity:
        raise _refuse(first, "the two legs of an Alpaca OCO have the same side and quantity")
    return Group("oco", take_profit, take_profit, stop_loss)


def build_group(group: Group, *, extended_default: bool) -> OrderRequest:
    """The one request of a contingent group."""
    tp, sl = group.take_profit, group.stop_loss
    take_profit = TakeProfitRequest(limit_price=_need(tp.price, tp, "a limit price")) \
        if tp is not None else None
    stop_loss = StopLossRequest(
        stop_price=_need(sl.trigger_price, sl, "a trigger price"),
        limit_price=float(sl.price) if sl.order_type is OrderType.STOP_LIMIT and sl.price
        is not None else None) if sl is not None else None
    main = group.main
    fields = _common(main, extended_default)
    fields.update(order_class=OrderClass(group.order_class), take_profit=take_profit,
                  stop_loss=stop_loss)
    if group.order_class == "oco":
        return LimitOrderRequest(limit_price=_need(main.price, main, "a limit price"),
                                 **fields)
    if main.order_type is OrderType.MARKET:
        return MarketOrderRequest(**fields)
    return LimitOrderRequest(limit_price=_need(main.price, main, "a limit price"), **fields)


def replace_request(order: Order, *, remaining: Decimal | None, price: Decimal | None,
                    trigger_price: Decimal | None, client_order_id: str) -> ReplaceOrderRequest:
    """A replacement of a working order (Alpaca's modify): ``remaining`` is the quantity the
    replacement is for (whole shares).

    Raises
    ------
    AlpacaFatalError
        A fractional quantity, or a field the order type does not have.
    """
    kind = order.order_type
    if price is not None and kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise _refuse(order, f"a {kind.value} order has no limit price to change")
    if trigger_price is not None and kind not in _STOPS:
        raise _refuse(order, f"a {kind.value} order has no trigger price to change")
    qty = None
    if remaining is not None:
        if remaining <= 0 or remaining != remaining.to_integral_value():
            raise _refuse(order, f"Alpaca replaces whole-share quantities only, not "
                          f"{remaining}")
        qty = int(remaining)
    return ReplaceOrderRequest(qty=qty, limit_price=float(price) if price is not None else None,
                               stop_price=float(trigger_price) if trigger_price is not None
                               else None, client_order_id=client_order_id)


__all__ = ["AT_CLOSE_TAG", "AT_OPEN_TAG", "CRYPTO_TIF", "CRYPTO_TYPES", "OUTSIDE_RTH_TAG",
           "RTH_ONLY_TAG", "Group", "build_group", "build_request", "extended_hours",
           "group_key", "group_members", "is_crypto", "replace_request", "shape_group",
           "time_in_force"]
