"""The local Fyers' order book: orders, trades and positions of one account, matched against a
top of book that tests set.

Orders follow Fyers' rules as its documentation states them: types 1 limit, 2 market, 3 stop
(SL-M), 4 stop-limit (SL-L); sides 1 and -1; products INTRADAY, CNC (equities), MARGIN
(derivatives), CO and BO; validity DAY or IOC; quantities in multiples of the lot, prices in
multiples of the tick. Statuses are Fyers': 1 cancelled, 2 filled, 4 transit, 5 rejected,
6 pending, 7 expired.

Matching is simple and deterministic: a market order, or a limit order that crosses, fills at
once at the touch; a resting limit order fills at its own price when the market crosses it; a
stop triggers when the last price reaches it. A cover order (CO) adds, once its entry fills, a
stop-loss leg ``stopLoss`` rupees away; a bracket order (BO) adds that leg and a take-profit leg
``takeProfit`` rupees away, and a fill of one leg cancels the other. Legs carry their entry's id
as ``parentId``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import FyersError, invalid
from .symbols import SymbolSpec

ZERO = Decimal(0)
CANCELED, FILLED, TRANSIT, REJECTED, PENDING, EXPIRED = 1, 2, 4, 5, 6, 7
LIMIT, MARKET, STOP, STOP_LIMIT = 1, 2, 3, 4
PRODUCTS = ("INTRADAY", "CNC", "MARGIN", "CO", "BO", "MTF")
_TAG = re.compile(r"^[A-Za-z0-9]{1,30}$")
Listener = Callable[["Order", "Trade | None"], None]


@dataclass
class Quote:
    """The market of one symbol."""

    bid: Decimal
    ask: Decimal
    ltp: Decimal
    last_qty: int = 0
    last_time: int = 0
    volume: int = 0
    open: Decimal = ZERO
    high: Decimal = ZERO
    low: Decimal = ZERO


@dataclass
class Order:
    """One order of the book."""

    id: str
    spec: SymbolSpec
    side: int
    type: int
    qty: int
    product: str
    limit: Decimal
    stop: Decimal
    validity: str
    tag: str
    created: float
    sl_no: int
    stop_loss: Decimal = ZERO
    take_profit: Decimal = ZERO
    parent_id: str = ""
    status: int = PENDING
    filled: int = 0
    value: Decimal = ZERO
    message: str = ""
    updated: float = 0.0
    triggered: bool = False
    offline: bool = False

    @property
    def remaining(self) -> int:
        """Quantity still to fill."""
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        """True while it can fill."""
        return self.status in (PENDING, TRANSIT)

    @property
    def traded_price(self) -> Decimal:
        """Average fill price (0 when nothing filled)."""
        return (self.value / self.filled).quantize(Decimal("0.0001")) if self.filled else ZERO

    @property
    def order_tag(self) -> str:
        """As Fyers shows it: ``1:<tag>`` for a user tag, ``2:Untagged`` otherwise."""
        return f"1:{self.tag}" if self.tag else "2:Untagged"


@dataclass(frozen=True)
class Trade:
    """One execution."""

    number: str
    order: Order
    qty: int
    price: Decimal
    time: float


@dataclass
class Position:
    """Net position of one symbol and product."""

    spec: SymbolSpec
    product: str
    buy_qty: int = 0
    buy_value: Decimal = ZERO
    sell_qty: int = 0
    sell_value: Decimal = ZERO

    @property
    def net(self) -> int:
        """Signed quantity."""
        return self.buy_qty - self.sell_qty


@dataclass
class Book:
    """Orders, trades and positions of the account.

    Parameters
    ----------
    symbols : tuple of SymbolSpec
    now : callable
        Seconds since the epoch (the server's clock).
    balance : Decimal
        Opening equity funds in rupees.
    """

    symbols: tuple[SymbolSpec, ...]
    now: Callable[[], float]
    balance: Decimal = Decimal("1000000")
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    realized: Decimal = ZERO
    day: str = "250101"

    def __post_init__(self) -> None:
        self.by_ticker = {s.ticker: s for s in self.symbols}
        for spec in self.symbols:
            half = spec.tick
            self.quotes[spec.ticker] = Quote(spec.price - half, spec.price + half, spec.price,
                                             open=spec.price, high=spec.price, low=spec.price)
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(21_726_601)
        self._sl = itertools.count(1)

    # -- orders in -----------------------------------------------------------------------------

    def place(self, body: dict[str, Any]) -> Order:
        """Book an order from the body of ``POST /api/v3/orders/sync`` (matched at once).

        Raises
        ------
        FyersError
            -50 invalid input, -300 an unknown symbol.
        """
        spec = self.by_ticker.get(str(body.get("symbol", "")))
        if spec is None:
            raise FyersError(-300, f"Invalid symbol {body.get('symbol')!r}")
        side, kind, qty = _int(body, "side"), _int(body, "type"), _int(body, "qty")
        product = str(body.get("productType", ""))
        validity = str(body.get("validity", "DAY")).upper()
        limit, stop = _price(body, "limitPrice"), _price(body, "stopPrice")
        stop_loss, take_profit = _price(body, "stopLoss"), _price(body, "takeProfit")
        tag = str(body.get("orderTag") or "")
        self._validate(spec, side, kind, qty, product, validity, limit, stop, stop_loss,
                       take_profit, tag)
        order = Order(self._order_id(), spec, side, kind, qty, product, limit, stop, validity,
                      tag, self.now(), next(self._sl), stop_loss, take_profit,
                      offline=bool(body.get("offlineOrder", False)))
        order.updated = order.created
        self.orders[order.id] = order
        self._emit(order, None)
        self._match(order, at_once=True)
        return order

    def reject(self, body: dict[str, Any], reason: str) -> Order:
        """Book an order as the RMS refused it (status 5) and return it."""
        spec = self.by_ticker[str(body.get("symbol"))]
        order = Order(self._order_id(), spec, _int(body, "side"), _int(body, "type"),
                      _int(body, "qty"), str(body.get("productType", "")),
                      _price(body, "limitPrice"), _price(body, "stopPrice"),
                      str(body.get("validity", "DAY")), str(body.get("orderTag") or ""),
                      self.now(), next(self._sl), status=REJECTED, message=reason)
        order.updated = order.created
        self.orders[order.id] = order
        self._emit(order, None)
        return order

    def modify(self, body: dict[str, Any]) -> Order:
        """``PATCH /api/v3/orders/sync``: change a pending order's quantity, prices or type."""
        order = self._pending(str(body.get("id", "")))
        if order.parent_id == "" and order.product in ("CO", "BO") and "qty" in body:
            raise invalid("The quantity of a cover or bracket order cannot be modified")
        qty = _int(body, "qty") if "qty" in body else order.qty
        kind = _int(body, "type") if "type" in body else order.type
        limit = _price(body, "limitPrice") if "limitPrice" in body else order.limit
        stop = _price(body, "stopPrice") if "stopPrice" in body else order.stop
        spec = order.spec
        if qty <= order.filled or qty % spec.lot:
            raise invalid(f"Quantity should be multiples of the lot size {spec.lot} and more "
                          "than the filled quantity")
        _check_ticks(spec, limit=limit, stop=stop)
        if kind in (LIMIT, STOP_LIMIT) and limit <= 0:
            raise invalid("Provide a valid limitPrice")
        order.qty, order.type, order.limit, order.stop = qty, kind, limit, stop
        order.updated = self.now()
        self._emit(order, None)
        self._match(order, at_once=False)
        return order

    def cancel(self, order_id: str) -> Order:
        """``DELETE /api/v3/orders/sync``: cancel a pending order (a cover or bracket leg is
        exited at the market instead, as Fyers exits those positions)."""
        order = self._pending(order_id)
        if order.parent_id:
            quote = self.quotes[order.spec.ticker]
            self._fill(order, order.remaining, quote.ask if order.side > 0 else quote.bid)
            return order
        self._close(order, CANCELED, "Cancelled by the user")
        for leg in self._legs(order):
            if leg.is_open:
                self._close(leg, CANCELED, "Parent order cancelled")
        return order

    # -- steering --------------------------------------------------------------------------

    def set_price(self, ticker: str, bid: Decimal, ask: Decimal) -> None:
        """Move the top of book; working orders react."""
        quote = self.quotes[ticker]
        quote.bid, quote.ask = bid, ask
        quote.ltp = (bid + ask) / 2
        quote.high, quote.low = max(quote.high, quote.ltp), min(quote.low, quote.ltp)
        for order in [o for o in self.orders.values() if o.spec.ticker == ticker and o.is_open]:
            self._match(order, at_once=False)

    def fill_resting(self, order: Order, qty: int) -> Trade:
        """Fill ``qty`` of a working order at its limit price (its stop price for a stop)."""
        if not order.is_open:
            raise ValueError(f"order {order.id} is not working")
        price = order.limit if order.limit > 0 else order.stop
        if price <= 0:
            quote = self.quotes[order.spec.ticker]
            price = quote.ask if order.side > 0 else quote.bid
        return self._fill(order, min(qty, order.remaining), price)

    def find(self, key: str) -> Order:
        """The order with this id, or the latest with this tag (KeyError when none)."""
        if key in self.orders:
            return self.orders[key]
        tagged = [o for o in self.orders.values() if o.tag == key]
        if not tagged:
            raise KeyError(key)
        working = [o for o in tagged if o.is_open]
        return (working or tagged)[-1]

    # -- queries -----------------------------------------------------------------------------

    def net(self, ticker: str) -> int:
        """Net quantity of ``ticker`` over every product."""
        return sum(p.net for (t, _), p in self.positions.items() if t == ticker)

    def unrealized(self) -> Decimal:
        """Profit or loss of the open positions at the last prices."""
        total = ZERO
        for pos in self.positions.values():
            if pos.net == 0:
                continue
            ltp = self.quotes[pos.spec.ticker].ltp
            avg = (pos.buy_value / pos.buy_qty) if pos.net > 0 else (pos.sell_value / pos.sell_qty)
            total += (ltp - avg) * pos.net * pos.spec.multiplier
        return total

    def utilized(self) -> Decimal:
        """Margin blocked: a fifth of each open position's value."""
        return sum((abs(p.net) * self.quotes[p.spec.ticker].ltp * p.spec.multiplier / 5
                    for p in self.positions.values()), ZERO)

    # -- matching ----------------------------------------------------------------------------

    def _match(self, order: Order, *, at_once: bool) -> None:
        if not order.is_open:
            return
        quote = self.quotes[order.spec.ticker]
        if order.type in (STOP, STOP_LIMIT) and not order.triggered:
            reached = quote.ltp >= order.stop if order.side > 0 else quote.ltp <= order.stop
            if not reached:
                return
            order.triggered = True
            at_once = True
        touch = quote.ask if order.side > 0 else quote.bid
        if order.type in (MARKET, STOP):
            self._fill(order, order.remaining, touch)
        else:
            crosses = touch <= order.limit if order.side > 0 else touch >= order.limit
            if crosses:
                self._fill(order, order.remaining, touch if at_once else order.limit)
        if order.is_open and order.validity == "IOC":
            self._close(order, CANCELED, "IOC order cancelled: no match")

    def _fill(self, order: Order, qty: int, price: Decimal) -> Trade:
        now = self.now()
        trade = Trade(str(next(self._trade_ids)), order, qty, price, now)
        order.filled += qty
        order.value += price * qty
        order.updated = now
        if order.filled >= order.qty:
            order.status = FILLED
            order.message = "Traded"
        self.trades.append(trade)
        self._book(order, qty, price)
        quote = self.quotes[order.spec.ticker]
        quote.ltp, quote.last_qty, quote.last_time = price, qty, int(now)
        quote.volume += qty
        self._emit(order, trade)
        if order.status == FILLED:
            if order.product in ("CO", "BO") and not order.parent_id:
                self._add_legs(order)
            elif order.parent_id:
                for sibling in self._legs(self.orders[order.parent_id]):
                    if sibling is not order and sibling.is_open:
                        self._close(sibling, CANCELED, "Other leg executed")
        return trade

    def _book(self, order: Order, qty: int, price: Decimal) -> None:
        key = (order.spec.ticker, order.product)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(order.spec, order.product)
        before = pos.net
        if order.side > 0:
            pos.buy_qty += qty
            pos.buy_value += price * qty
        else:
            pos.sell_qty += qty
            pos.sell_value += price * qty
        closed = min(abs(before), qty) if before * order.side < 0 else 0
        if closed:
            avg_buy = pos.buy_value / pos.buy_qty if pos.buy_qty else ZERO
            avg_sell = pos.sell_value / pos.sell_qty if pos.sell_qty else ZERO
            self.realized += (avg_sell - avg_buy) * closed * order.spec.multiplier

    def _add_legs(self, entry: Order) -> None:
        price = entry.traded_price
        exit_side = -entry.side
        legs = [(STOP, price - entry.side * entry.stop_loss, ZERO)]
        if entry.product == "BO":
            legs.append((LIMIT, ZERO, price + entry.side * entry.take_profit))
        for kind, stop, limit in legs:
            leg = Order(self._order_id(), entry.spec, exit_side, kind, entry.qty,
                        entry.product, limit, stop, "DAY", "", self.now(), next(self._sl),
                        parent_id=entry.id)
            leg.updated = leg.created
            self.orders[leg.id] = leg
            self._emit(leg, None)
            self._match(leg, at_once=False)

    def _legs(self, entry: Order) -> list[Order]:
        return [o for o in self.orders.values() if o.parent_id == entry.id]

    def _close(self, order: Order, status: int, message: str) -> None:
        order.status, order.message, order.updated = status, message, self.now()
        self._emit(order, None)

    def _pending(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise FyersError(-51, f"Invalid order id {order_id!r}")
        if not order.is_open:
            raise invalid(f"Order {order_id} is not pending: it cannot be changed")
        return order

    def _emit(self, order: Order, trade: Trade | None) -> None:
        for listener in list(self.listeners):
            listener(order, trade)

    def _order_id(self) -> str:
        return f"{self.day}{next(self._order_ids):08d}"

    # -- validation --------------------------------------------------------------------------

    def _validate(self, spec: SymbolSpec, side: int, kind: int, qty: int, product: str,
                  validity: str, limit: Decimal, stop: Decimal, stop_loss: Decimal,
                  take_profit: Decimal, tag: str) -> None:
        if side not in (1, -1):
            raise invalid("side must be 1 (buy) or -1 (sell)")
        if kind not in (LIMIT, MARKET, STOP, STOP_LIMIT):
            raise invalid("type must be 1, 2, 3 or 4")
        if product not in PRODUCTS:
            raise invalid(f"Invalid productType {product!r}")
        if validity not in ("DAY", "IOC"):
            raise invalid(f"Invalid validity {validity!r}")
        if qty <= 0 or qty % spec.lot:
            raise invalid(f"Quantity should be multiples of the lot size {spec.lot}")
        if product == "CNC" and not spec.is_equity:
            raise invalid("CNC is for equities only")
        if product == "MARGIN" and spec.is_equity:
            raise invalid("MARGIN is for derivatives only")
        if tag and product in ("CO", "BO"):
            raise invalid("Ordertag is not supported for CO and BO orders")
        if tag and (not _TAG.match(tag) or tag == "Untagged"):
            raise invalid("orderTag must be 1 to 30 letters or digits")
        _check_ticks(spec, limit=limit, stop=stop, stopLoss=stop_loss, takeProfit=take_profit)
        if kind in (LIMIT, STOP_LIMIT) and limit <= 0:
            raise invalid("Provide a valid limitPrice")
        if kind in (STOP, STOP_LIMIT):
            self._validate_stop(spec, side, kind, limit, stop)
        if product in ("CO", "BO"):
            if validity != "DAY":
                raise invalid("Validity should be DAY for CO and BO orders")
            if stop_loss <= 0:
                raise invalid("stopLoss is mandatory for CO and BO orders")
            if product == "BO" and take_profit <= 0:
                raise invalid("takeProfit is mandatory for BO orders")
            if product == "CO" and kind not in (LIMIT, MARKET):
                raise invalid("A cover order is a market or limit order")

    def _validate_stop(self, spec: SymbolSpec, side: int, kind: int, limit: Decimal,
                       stop: Decimal) -> None:
        ltp = self.quotes[spec.ticker].ltp
        if stop <= 0:
            raise invalid("Provide a valid stopPrice")
        if side > 0 and stop < ltp:
            raise invalid("The stopPrice of a buy order must not be lower than the LTP")
        if side < 0 and stop > ltp:
            raise invalid("The stopPrice of a sell order must not be higher than the LTP")
        if kind == STOP_LIMIT and (stop > limit if side > 0 else stop < limit):
            raise invalid("The stopPrice must be below the limitPrice of a buy stop-limit "
                          "order and above it for a sell")


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(f"{key} is missing or invalid")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise invalid(f"{key} is invalid") from None
    if number != number.to_integral_value():
        raise invalid(f"{key} must be a whole number")
    return int(number)


def _price(body: dict[str, Any], key: str) -> Decimal:
    value = body.get(key, 0)
    if value in (None, ""):
        return ZERO
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise invalid(f"{key} is invalid") from None


def _check_ticks(spec: SymbolSpec, **prices: Decimal) -> None:
    for name, price in prices.items():
        if price < 0:
            raise invalid(f"{name} must not be negative")
        if price and price % spec.tick:
            raise invalid(f"{name} not a multiple of tick size {spec.tick:.4f}")


__all__ = ["CANCELED", "EXPIRED", "FILLED", "LIMIT", "MARKET", "PENDING", "REJECTED",
           "STOP", "STOP_LIMIT", "TRANSIT", "Book", "Order", "Position", "Quote", "Trade"]
