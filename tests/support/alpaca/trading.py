"""Orders of the local Alpaca and how they match: simple orders of every type, brackets, OCO
and OTO groups with their legs, trailing stops, replacements and cancellations.

Matching is against the top of book (:class:`~.market.Market`), with unlimited size there:

* market orders fill at once at the ask (buy) or bid (sell);
* a limit order that can trade at arrival fills at the quote; one that rests fills at its own
  price when the quote crosses it (or partly, through :meth:`Venue.fill`);
* stops (and stop-limits) trigger when the mid reaches the stop price (buy at or above, sell
  at or below), then trade as a market (or limit) order;
* a trailing stop keeps the high (sell) or low (buy) water mark of the mid since it started
  and triggers ``trail_price`` or ``trail_percent`` away from it;
* stock orders trade only while the session is open, extended-hours orders also in the pre-
  and after-market; crypto trades around the clock;
* IOC fills what it can at arrival and the rest is cancelled; FOK fills in full or is
  cancelled.

Bracket legs are ``held`` until the entry fills completely, then work; when a leg of a bracket
or an OCO group fills completely, its sibling is cancelled. Every change is reported to the
listeners as a trade update event (``new``, ``fill``, ``partial_fill``, ``canceled``,
``expired``, ``replaced``, ``rejected``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .account import Account, Activity, iso_ns, plain
from .market import AssetSpec, Market

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"new", "partially_filled", "accepted", "pending_new", "held",
                           "pending_cancel", "pending_replace", "accepted_for_bidding"})
FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced",
                            "done_for_day"})


@dataclass
class Fill:
    """One execution of an order."""

    execution_id: str
    qty: Decimal
    price: Decimal
    ts: int
    position_qty: Decimal


@dataclass
class Order:
    """One order (a bracket, OCO or OTO order holds its legs)."""

    asset: AssetSpec
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    order_class: str = "simple"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "pending_new"
    filled_qty: Decimal = ZERO
    filled_value: Decimal = ZERO
    hwm: Decimal | None = None
    triggered: bool = False
    created_at: int = field(default_factory=time.time_ns)
    updated_at: int = 0
    filled_at: int | None = None
    canceled_at: int | None = None
    expired_at: int | None = None
    failed_at: int | None = None
    replaced_at: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    legs: list[Order] = field(default_factory=list)
    parent: Order | None = None
    sibling: Order | None = None
    faults: set[str] = field(default_factory=set)
    deferred: list[tuple[str, Fill | None]] = field(default_factory=list)

    @property
    def symbol(self) -> str:
        """The asset's symbol."""
        return self.asset.symbol

    @property
    def is_open(self) -> bool:
        """True while the order can still fill (held legs included)."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.filled_qty

    @property
    def stop_level(self) -> Decimal | None:
        """Where a trailing stop stands now (None before it has seen a price)."""
        if self.type != "trailing_stop" or self.hwm is None:
            return self.stop_price
        if self.trail_price is not None:
            offset = self.trail_price
        else:
            offset = self.hwm * (self.trail_percent or ZERO) / 100
        return self.hwm - offset if self.side == "sell" else self.hwm + offset

    def as_json(self, nested: bool = True) -> dict[str, Any]:
        """The order as the trading API answers it."""
        avg = self.filled_value / self.filled_qty if self.filled_qty else None
        stamp = self.updated_at or self.created_at
        return {
            "id": self.id, "client_order_id": self.client_order_id,
            "created_at": iso_ns(self.created_at), "updated_at": iso_ns(stamp),
            "submitted_at": iso_ns(self.created_at),
            "filled_at": iso_ns(self.filled_at) if self.filled_at else None,
            "expired_at": iso_ns(self.expired_at) if self.expired_at else None,
            "canceled_at": iso_ns(self.canceled_at) if self.canceled_at else None,
            "failed_at": iso_ns(self.failed_at) if self.failed_at else None,
            "replaced_at": iso_ns(self.replaced_at) if self.replaced_at else None,
            "replaced_by": self.replaced_by, "replaces": self.replaces,
            "asset_id": self.asset.id, "symbol": self.symbol,
            "asset_class": self.asset.asset_class, "notional": None, "qty": plain(self.qty),
            "filled_qty": plain(self.filled_qty),
            "filled_avg_price": plain(avg) if avg is not None else None,
            "order_class": self.order_class, "order_type": self.type, "type": self.type,
            "side": self.side, "position_intent": None, "time_in_force": self.time_in_force,
            "limit_price": plain(self.limit_price), "stop_price": plain(
                self.stop_level if self.type == "trailing_stop" else self.stop_price),
            "status": self.status, "extended_hours": self.extended_hours,
            "legs": [leg.as_json() for leg in self.legs] if nested and self.legs else None,
            "trail_percent": plain(self.trail_percent), "trail_price": plain(self.trail_price),
            "hwm": plain(self.hwm), "subtag": None, "source": None,
        }


Listener = Callable[[str, Order, Fill | None], None]


@dataclass
class Session:
    """Whether stock orders trade now: ``regular``, ``extended`` (pre- or after-market) or
    ``closed``."""

    state: str = "regular"

    def trades(self, order: Order) -> bool:
        """True when ``order`` may trade now."""
        if order.asset.crypto or self.state == "regular":
            return True
        return self.state == "extended" and order.extended_hours


class Venue:
    """The orders and their matching.

    Parameters
    ----------
    market : Market
    account : Account
    """

    def __init__(self, market: Market, account: Account) -> None:
        self.market = market
        self.account = account
        self.session = Session()
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.listeners: list[Listener] = []
        self.submits: dict[str, int] = {}

    # -- lookups ------------------------------------------------------------------------------

    def find(self, key: str) -> Order | None:
        """An order by id or client order id."""
        return self.orders.get(key) or self.by_client_id.get(key)

    def all_orders(self) -> list[Order]:
        """Every order, legs included, oldest first."""
        return sorted(self.orders.values(), key=lambda o: (o.created_at, o.id))

    def reserved(self) -> Decimal:
        """Buying power held by open buy orders (legs that only close are not counted)."""
        total = ZERO
        for o in self.orders.values():
            if o.is_open and o.side == "buy" and o.parent is None:
                price = o.limit_price or o.stop_price or self.market.quotes[o.symbol][1]
                total += o.remaining * price
        return total

    # -- placing ------------------------------------------------------------------------------

    def place(self, order: Order) -> Order:
        """Book a validated order (and its legs) and let it trade."""
        self.submits[order.client_order_id] = self.submits.get(order.client_order_id, 0) + 1
        for o in (order, *order.legs):
            self.orders[o.id] = o
            self.by_client_id[o.client_order_id] = o
        order.status = "new"
        order.updated_at = time.time_ns()
        for leg in order.legs:
            leg.status = "held" if order.order_class in ("bracket", "oto") else "new"
        self._emit("new", order)
        if order.order_class == "oco":
            self._emit("new", order.legs[0])
        return order

    def start(self, order: Order) -> None:
        """Let a freshly booked order trade against the current quote."""
        if order.type == "trailing_stop":
            self._track_trail(order)
        self._match(order, arrival=True)
        if order.order_class == "oco":
            self._match(order.legs[0], arrival=True)
        if order.is_open and order.time_in_force in ("ioc", "fok"):
            self._close(order, "canceled")

    def reject(self, order: Order) -> None:
        """Reject a booked order (the execution venue refused it after Alpaca took it)."""
        order.status = "rejected"
        order.failed_at = order.updated_at = time.time_ns()
        self.orders[order.id] = order
        self.by_client_id[order.client_order_id] = order
        self._emit("rejected", order)

    # -- changes ------------------------------------------------------------------------------

    def cancel(self, order: Order) -> None:
        """Cancel a working order and its working legs."""
        for o in (order, *order.legs):
            if o.is_open:
                self._close(o, "canceled")

    def replace(self, order: Order, changes: dict[str, Any]) -> Order:
        """The order replacing ``order`` with ``changes`` (qty, limit_price, stop_price, trail,
        time_in_force, client_order_id)."""
        new = Order(
            order.asset, changes.get("client_order_id") or str(uuid.uuid4()), order.side,
            order.type, changes.get("time_in_force") or order.time_in_force,
            changes.get("qty") or order.remaining,
            changes.get("limit_price", order.limit_price),
            changes.get("stop_price", order.stop_price),
            order.trail_price, order.trail_percent, order.extended_hours, order.order_class,
            replaces=order.id, parent=order.parent, sibling=order.sibling,
            hwm=order.hwm, triggered=order.triggered)
        if "trail" in changes:
            if order.trail_price is not None:
                new.trail_price = changes["trail"]
            else:
                new.trail_percent = changes["trail"]
        new.status = "held" if order.status == "held" else "new"
        new.legs = order.legs
        for leg in new.legs:
            leg.parent = new
        if order.sibling is not None:
            order.sibling.sibling = new
        if order.parent is not None:
            order.parent.legs = [new if leg is order else leg for leg in order.parent.legs]
        now = time.time_ns()
        order.status, order.replaced_by, order.replaced_at = "replaced", new.id, now
        order.updated_at = new.updated_at = now
        order.legs = []
        self.orders[new.id] = new
        self.by_client_id[new.client_order_id] = new
        self._emit("replaced", order)
        self._emit("new", new)
        if new.status == "new":
            self._match(new, arrival=True)
        return new

    def fill(self, order: Order, qty: Decimal, price: Decimal | None = None) -> None:
        """Fill ``qty`` of a working order, at ``price`` or its own limit (else the quote)."""
        bid, ask = self.market.quotes[order.symbol]
        at = price or order.limit_price or (ask if order.side == "buy" else bid)
        self._execute(order, min(qty, order.remaining), at)

    def on_price(self, symbol: str) -> None:
        """Let every working order of ``symbol`` react to its new quote."""
        for order in list(self.orders.values()):
            if order.symbol != symbol or order.status not in ("new", "partially_filled"):
                continue
            if order.type == "trailing_stop":
                self._track_trail(order)
            self._match(order, arrival=False)

    def open_session(self) -> None:
        """Let every working order trade (after a session state change)."""
        for order in list(self.orders.values()):
            if order.status in ("new", "partially_filled"):
                self._match(order, arrival=False)

    def end_of_day(self) -> None:
        """Expire every working DAY (and opening/closing auction) order."""
        for order in list(self.orders.values()):
            if order.is_open and order.time_in_force in ("day", "opg", "cls"):
                self._close(order, "expired")

    # -- matching -----------------------------------------------------------------------------

    def _match(self, order: Order, arrival: bool) -> None:
        if order.status not in ("new", "partially_filled") or not self.session.trades(order):
            return
        if order.time_in_force in ("opg", "cls"):
            return  # auction orders only fill when a test fills them
        bid, ask = self.market.quotes[order.symbol]
        mid = (bid + ask) / 2
        buy = order.side == "buy"
        kind = order.type
        if kind in ("stop", "stop_limit", "trailing_stop") and not order.triggered:
            level = order.stop_level
            if level is None or (mid < level if buy else mid > level):
                return
            order.triggered = True
            kind = "limit" if kind == "stop_limit" else "market"
        elif order.triggered:
            kind = "limit" if kind == "stop_limit" else "market"
        touch = ask if buy else bid
        if kind == "market":
            price = touch
        else:
            limit = order.limit_price
            assert limit is not None
            if (touch > limit) if buy else (touch < limit):
                return
            price = touch if arrival or order.triggered else limit
        self._execute(order, order.remaining, price)

    def _track_trail(self, order: Order) -> None:
        bid, ask = self.market.quotes[order.symbol]
        mid = (bid + ask) / 2
        if order.hwm is None:
            order.hwm = mid
        order.hwm = max(order.hwm, mid) if order.side == "sell" else min(order.hwm, mid)

    def _execute(self, order: Order, qty: Decimal, price: Decimal) -> None:
        if qty <= 0:
            return
        now = time.time_ns()
        order.filled_qty += qty
        order.filled_value += qty * price
        order.updated_at = now
        full = order.filled_qty >= order.qty
        order.status = "filled" if full else "partially_filled"
        if full:
            order.filled_at = now
        execution_id = str(uuid.uuid4())
        activity = Activity(now, execution_id, order.id, order.symbol, order.side, qty, price,
                            order.filled_qty, order.remaining, order.status)
        self.account.book(activity, order.asset)
        trade_id = int(now % 10**12)
        self.market.record_trade(order.symbol, price, qty, trade_id)
        fill = Fill(execution_id, qty, price, now, self.account.position(order.symbol))
        self._emit("fill" if full else "partial_fill", order, fill)
        if full:
            for leg in order.legs:
                if leg.status == "held":
                    leg.status = "new"
                    leg.updated_at = now
                    self._emit("new", leg)
                    if leg.type == "trailing_stop":
                        self._track_trail(leg)
            for leg in order.legs:
                self._match(leg, arrival=True)
            sibling = order.sibling
            if sibling is not None and sibling.is_open:
                self._close(sibling, "canceled")

    def _close(self, order: Order, status: str) -> None:
        now = time.time_ns()
        order.status = status
        order.updated_at = now
        if status == "canceled":
            order.canceled_at = now
        else:
            order.expired_at = now
        self._emit(status, order)
        for leg in order.legs:
            if leg.status == "held":
                leg.status, leg.updated_at, leg.canceled_at = "canceled", now, now
                self._emit("canceled", leg)

    def _emit(self, event: str, order: Order, fill: Fill | None = None) -> None:
        root = order.parent or order
        if "out_of_order" in root.faults:
            if event == "new" and fill is None and not order.deferred:
                order.deferred.append((event, fill))
                return
            held, order.deferred = order.deferred, []
            self._send(event, order, fill)
            for late_event, late_fill in held:
                self._send(late_event, order, late_fill)
            return
        self._send(event, order, fill)

    def _send(self, event: str, order: Order, fill: Fill | None) -> None:
        times = 2 if "duplicate_reports" in (order.parent or order).faults else 1
        for _ in range(times):
            for listener in self.listeners:
                listener(event, order, fill)


__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "ZERO",
    "Fill",
    "Listener",
    "Order",
    "Session",
    "Venue",
]
