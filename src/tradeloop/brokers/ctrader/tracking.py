"""What the adapter has told the node about each order: every order event once.

cTrader may repeat itself or arrive out of order (an execution event sent again after a
reconnection, a fill before the acceptance): fills are booked once per deal id, acceptance,
cancellation and rejection once per order, an acceptance after the order is done is not
reported, and a fill that would overfill the order is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.brokers.tracking import OrderEvents
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, TimeInForce
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)
_ZERO = Decimal(0)


@dataclass
class Known:
    """One order of this adapter.

    Attributes
    ----------
    order_id : int
        cTrader's order id (0 until known).
    immediate : bool
        IOC or FOK: a cancellation nobody asked for means it could not fill (EXPIRED).
    sent : bool
        A new-order request carrying this client order id was written to the socket.
    deals : dict of str to Decimal
        Deal ids booked (reported, or known to the node) with their volume.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    strategy_id: str = ""
    position_id: str = ""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_id: int = 0
    immediate: bool = False
    sent: bool = False
    accepted: bool = False
    closed: bool = False
    cancel_requested: bool = False
    deals: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, order: Order) -> Known:
        """A new record of ``order``."""
        return cls(order.client_order_id, order.symbol, order.side, order.quantity,
                   order.strategy_id, order.position_id or "", order.price,
                   order.trigger_price,
                   immediate=order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK))

    @property
    def filled(self) -> Decimal:
        """What has filled, as far as the node knows."""
        return sum(self.deals.values(), _ZERO)

    @property
    def done(self) -> bool:
        """Nothing more can happen to it."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


class Tracker(OrderEvents):
    """Tracked orders and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The wall clock (event times when cTrader gives none).
    """

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self.now_ns = now_ns
        super().__init__()
        self.orders: dict[str, Known] = {}
        self._by_order_id: dict[int, str] = {}
        #: Deals dropped because they had been booked already.
        self.duplicates = 0

    def add(self, order: Order) -> Known:
        """Track an order (the record already kept, when tracked)."""
        return self.orders.setdefault(order.client_order_id, Known.of(order))

    def adopt(self, report: OrderStatusReport, fills: list[FillReport]) -> Known:
        """Track an order learned from cTrader as the node will take it from ``report`` and
        ``fills`` (a lookup after a lost answer, a restart)."""
        known = self.orders.get(report.client_order_id)
        if known is None:
            known = Known(report.client_order_id, report.symbol, report.side, report.quantity,
                          price=report.price, trigger_price=report.trigger_price)
            self.orders[report.client_order_id] = known
        self.link(known, int(report.venue_order_id))
        known.sent = True
        known.accepted = known.accepted or report.status.value != "REJECTED"
        known.closed = known.closed or not report.is_open
        for fill in fills:
            known.deals.setdefault(fill.trade_id, fill.quantity)
        return known

    def link(self, known: Known, order_id: int) -> None:
        """Record cTrader's order id of a tracked order."""
        if order_id and known.order_id != order_id:
            known.order_id = order_id
            self._by_order_id[order_id] = known.client_order_id

    def get(self, client_order_id: str) -> Known | None:
        """The tracked order with this id."""
        return self.orders.get(client_order_id)

    def of_order_id(self, order_id: int) -> Known | None:
        """The tracked order with this cTrader order id."""
        cid = self._by_order_id.get(order_id)
        return self.orders.get(cid) if cid is not None else None

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self.orders.values() if not k.done]

    # -- events -------------------------------------------------------------------------------

    def accept(self, known: Known, ts: int = 0) -> None:
        """cTrader holds the order (once; never after the order is done)."""
        if known.accepted or known.closed:
            return
        known.accepted = True
        if known.done:
            return
        self._emit(ev.OrderAccepted(ts=ts or self.now_ns(), venue_order_id=str(known.order_id),
                                    **self._base(known)))

    def on_fill(self, known: Known, fill: FillReport) -> None:
        """A deal of the order (once per deal id)."""
        if fill.trade_id in known.deals:
            self.duplicates += 1
            return
        if known.filled + fill.quantity > known.quantity:
            logger.error("a deal would overfill the order; not reported", extra={"fields": {
                "client_order_id": known.client_order_id, "deal": fill.trade_id}})
            return
        if not known.accepted and not known.closed:
            known.accepted = True
            self._emit(ev.OrderAccepted(ts=fill.ts or self.now_ns(),
                                        venue_order_id=str(known.order_id),
                                        **self._base(known)))
        known.deals[fill.trade_id] = fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self.now_ns(), venue_order_id=fill.venue_order_id,
            trade_id=fill.trade_id, side=fill.side, last_qty=fill.quantity,
            last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, position_id=known.position_id,
            **self._base(known)))

    def seen(self, known: Known, fill: FillReport) -> None:
        """A deal the node books by itself (lookups, reconciliation): no event."""
        known.deals.setdefault(fill.trade_id, fill.quantity)

    def replaced(self, known: Known, quantity: Decimal | None, price: Decimal | None,
                 trigger_price: Decimal | None, ts: int = 0) -> None:
        """cTrader changed a working order (``ORDER_REPLACED``): report what differs."""
        if known.closed:
            return
        quantity = quantity if quantity is not None and quantity != known.quantity else None
        price = price if price is not None and price != known.price else None
        trigger_price = trigger_price if trigger_price is not None \
            and trigger_price != known.trigger_price else None
        if quantity is None and price is None and trigger_price is None:
            return
        known.quantity = quantity if quantity is not None else known.quantity
        known.price = price if price is not None else known.price
        known.trigger_price = trigger_price if trigger_price is not None \
            else known.trigger_price
        self._emit(ev.OrderUpdated(ts=ts or self.now_ns(), quantity=quantity, price=price,
                                   trigger_price=trigger_price, **self._base(known)))

    def cancelled(self, known: Known, reason: str = "", ts: int = 0) -> None:
        """cTrader cancelled the order."""
        if known.closed:
            return
        known.closed = True
        self._emit(ev.OrderCanceled(ts=ts or self.now_ns(), reason=reason,
                                    **self._base(known)))

    def expired(self, known: Known, ts: int = 0) -> None:
        """The order's time ran out (GTD), or an IOC/FOK order could not fill as asked."""
        if known.closed:
            return
        known.closed = True
        self._emit(ev.OrderExpired(ts=ts or self.now_ns(), **self._base(known)))

    def rejected(self, known: Known, reason: str, ts: int = 0) -> None:
        """cTrader refused the order."""
        if known.closed:
            return
        known.closed = True
        self._emit(ev.OrderRejected(ts=ts or self.now_ns(),
                                    reason=reason or "rejected by cTrader",
                                    **self._base(known)))

    def cancel_refused(self, known: Known, reason: str) -> None:
        """cTrader refused a cancel the node asked for."""
        if not known.cancel_requested:
            return
        known.cancel_requested = False
        self._emit(ev.OrderCancelRejected(ts=self.now_ns(), reason=reason,
                                          **self._base(known)))


__all__ = ["Known", "Tracker"]
