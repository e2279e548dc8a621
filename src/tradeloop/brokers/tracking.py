"""What every adapter's order tracker shares: where its order events go, the fields every event
carries, and how a change the venue made to a working order becomes ``OrderUpdated``.

Each adapter keeps its own tracker (what a venue reports, and in which order, differs), built on
:class:`OrderEvents`. Venues whose fills come as trades with their own ids, apart from order
snapshots (crypto exchanges, Fyers), share :class:`TradeTracker`: snapshots and trades arrive in
any order and may repeat, and become order events each once (``OrderAccepted`` before anything
else, ``OrderUpdated`` when the venue changed a working order, one ``OrderFilled`` per trade id,
the final cancel, expiry or rejection once). Fills come only from trades, never from a
snapshot's filled quantity: a snapshot that shows more filled than was reported tells the caller
to fetch the order's trades (:meth:`TradeTracker.missing_fills`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from tradeloop.execution.ports import EventHandler
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
FINAL = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


class TrackedOrder(Protocol):
    """What a tracker knows of an order, as far as the shared steps need it."""

    client_order_id: str
    strategy_id: str
    symbol: str
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None

    @property
    def filled(self) -> Decimal:
        """What the node knows has filled."""
        ...


class OrderEvents:
    """The base of an adapter's order tracker: the node's handler, and the events every
    tracker sends the same way.

    Subclasses set ``_now`` (the time of events the venue gives no time for).
    """

    _now: Callable[[], int]

    def __init__(self) -> None:
        self._handler: EventHandler | None = None

    def bind(self, handler: EventHandler) -> None:
        """Set where events go."""
        self._handler = handler

    def _emit(self, event: ev.OrderEvent) -> None:
        if self._handler is None:
            logger.warning("order event with no handler bound", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})
            return
        try:
            self._handler(event)
        except Exception:  # the handler's failure must not stop the adapter
            logger.exception("order event handler failed", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})

    @staticmethod
    def _base(known: TrackedOrder) -> dict[str, Any]:
        return {"client_order_id": known.client_order_id, "strategy_id": known.strategy_id,
                "symbol": known.symbol}

    def _update(self, known: TrackedOrder, report: OrderStatusReport) -> None:
        quantity = report.quantity if report.quantity and report.quantity != known.quantity \
            else None
        price = report.price if report.price is not None and report.price != known.price \
            else None
        trigger = report.trigger_price if (report.trigger_price is not None
                                           and report.trigger_price != known.trigger_price) \
            else None
        if quantity is None and price is None and trigger is None:
            return
        if quantity is not None and quantity < known.filled:
            return
        known.quantity = quantity if quantity is not None else known.quantity
        known.price = price if price is not None else known.price
        known.trigger_price = trigger if trigger is not None else known.trigger_price
        self._emit(ev.OrderUpdated(ts=report.ts_last or self._now(), quantity=quantity,
                                   price=price, trigger_price=trigger, **self._base(known)))


@dataclass
class KnownOrder:
    """One order as the node was told about it (by a :class:`TradeTracker`)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    strategy_id: str = ""
    position_id: str = ""
    venue_order_id: str = ""
    accepted: bool = False
    closed: bool = False
    trades: dict[str, Decimal] = field(default_factory=dict)
    unidentified: Decimal = ZERO  # filled before the adapter knew the order, trades unknown

    @property
    def filled(self) -> Decimal:
        """What the node was told (or already knew) has filled."""
        return sum(self.trades.values(), ZERO) + self.unidentified

    @property
    def done(self) -> bool:
        """True once nothing more can happen to the order."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


KnownT = TypeVar("KnownT", bound=KnownOrder)


class TradeTracker(OrderEvents, Generic[KnownT]):
    """The orders of an adapter whose fills arrive as trades, and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time for events the venue gives no time for.
    venue : str
        How messages name the venue ("rejected by the exchange").
    close_with_fills_missing : bool
        Whether a final snapshot (cancelled, expired) closes the order while it shows more
        filled than the trades reported so far; when False the order stays open until those
        trades arrive, so that its fills reach the node before its end.
    """

    #: What an adapter keeps of each order (a subclass of :class:`KnownOrder` may add fields).
    known_type: type[KnownT]

    def __init__(self, now_ns: Callable[[], int], venue: str,
                 close_with_fills_missing: bool = True) -> None:
        self._now = now_ns
        super().__init__()
        self._venue = venue
        self._close_with_fills_missing = close_with_fills_missing
        self._orders: dict[str, KnownT] = {}
        self._by_venue_id: dict[str, str] = {}
        #: Trades dropped because their trade id had been reported already.
        self.duplicates_dropped = 0

    # -- what is tracked ---------------------------------------------------------------------

    def add(self, order: Order) -> KnownT:
        """Track an order this adapter is sending."""
        known = self._orders.get(order.client_order_id)
        if known is None:
            known = self.known_type(order.client_order_id, order.symbol, order.side,
                                    order.quantity, order.price, order.trigger_price,
                                    order.strategy_id, order.position_id or "")
            self._orders[order.client_order_id] = known
        return known

    def adopt(self, report: OrderStatusReport) -> KnownT:
        """Track an order learned from the venue (after a restart), as the node will take it
        from ``report``: accepted, with the quantity the report says filled."""
        known = self._orders.get(report.client_order_id)
        if known is not None:
            return known
        known = self.known_type(report.client_order_id, report.symbol, report.side,
                                report.quantity, report.price, report.trigger_price,
                                venue_order_id=report.venue_order_id,
                                accepted=report.status is not OrderStatus.REJECTED,
                                closed=report.status in FINAL, unidentified=report.filled_qty)
        self._orders[report.client_order_id] = known
        if report.venue_order_id:
            self._by_venue_id[report.venue_order_id] = report.client_order_id
        return known

    def get(self, client_order_id: str) -> KnownT | None:
        """The tracked order with this id."""
        return self._orders.get(client_order_id)

    def client_id_of(self, venue_order_id: str) -> str | None:
        """Our id of a venue's order id, when tracked."""
        return self._by_venue_id.get(venue_order_id)

    def link(self, client_order_id: str, venue_order_id: str) -> None:
        """Note the venue's id of a tracked order."""
        known = self._orders.get(client_order_id)
        if known is not None:
            self._link(known, venue_order_id)

    def close(self, client_order_id: str) -> None:
        """Nothing more will be reported about this order (it was refused outright)."""
        known = self._orders.get(client_order_id)
        if known is not None:
            known.closed = True

    def working(self) -> list[KnownT]:
        """Tracked orders that can still change."""
        return [k for k in self._orders.values() if not k.done]

    def forget_done(self, keep: int = 10_000) -> None:
        """Drop the oldest finished orders beyond ``keep``."""
        done = [cid for cid, k in self._orders.items() if k.done]
        for cid in done[:max(0, len(done) - keep)]:
            known = self._orders.pop(cid)
            self._by_venue_id.pop(known.venue_order_id, None)

    # -- what arrives ------------------------------------------------------------------------

    def missing_fills(self, report: OrderStatusReport) -> bool:
        """True when ``report`` shows more filled than the trades reported so far."""
        known = self._orders.get(report.client_order_id)
        return known is not None and report.filled_qty > known.filled

    def on_report(self, report: OrderStatusReport) -> None:
        """Apply an order snapshot."""
        known = self._orders.get(report.client_order_id)
        if known is None:
            return
        self._link(known, report.venue_order_id)
        if known.closed:
            return
        base = self._base(known)
        if report.status is OrderStatus.REJECTED:
            if known.filled == 0:  # refused, or a stop refused when it triggered
                known.closed = True
                self._emit(ev.OrderRejected(ts=report.ts_last or self._now(),
                                            reason=report.reason or f"rejected by {self._venue}",
                                            **base))
            return
        self._accept(known, report.ts_accepted)
        if report.is_open:
            self._update(known, report)
        if report.status in FINAL and (self._close_with_fills_missing
                                       or report.filled_qty <= known.filled):
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **base))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **base))

    def on_fill(self, fill: FillReport) -> bool:
        """Apply one trade (once per trade id); True when it was new to the node."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is None:
            return False
        if fill.trade_id in known.trades:
            self.duplicates_dropped += 1
            return False
        if 0 < fill.quantity <= known.unidentified:
            # a trade from before the adapter knew the order: the node has it already
            known.unidentified -= fill.quantity
            known.trades[fill.trade_id] = fill.quantity
            return False
        if known.filled + fill.quantity > known.quantity:
            logger.error("a trade would overfill the order; not reported", extra={"fields": {
                "client_order_id": cid, "trade_id": fill.trade_id,
                "filled": str(known.filled), "quantity": str(known.quantity)}})
            return False
        self._link(known, fill.venue_order_id)
        self._accept(known, fill.ts)
        known.trades[fill.trade_id] = fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self._now(), venue_order_id=fill.venue_order_id or
            known.venue_order_id, trade_id=fill.trade_id, side=fill.side,
            last_qty=fill.quantity, last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, liquidity=fill.liquidity,
            position_id=known.position_id, **self._base(known)))
        return True

    def seen(self, fill: FillReport) -> None:
        """Mark a trade as known to the node (reconciliation books it) without an event."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is not None and fill.trade_id not in known.trades:
            known.trades[fill.trade_id] = fill.quantity
            known.unidentified = max(ZERO, known.unidentified - fill.quantity)

    # -- helpers -----------------------------------------------------------------------------

    def _link(self, known: KnownT, venue_order_id: str) -> None:
        if venue_order_id and not known.venue_order_id:
            known.venue_order_id = venue_order_id
            self._by_venue_id[venue_order_id] = known.client_order_id

    def _accept(self, known: KnownT, ts: int) -> None:
        if known.accepted:
            return
        known.accepted = True
        self._emit(ev.OrderAccepted(ts=ts or self._now(), venue_order_id=known.venue_order_id,
                                    **self._base(known)))


__all__ = ["FINAL", "ZERO", "KnownOrder", "OrderEvents", "TrackedOrder", "TradeTracker"]
