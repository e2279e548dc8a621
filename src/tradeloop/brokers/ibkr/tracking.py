"""What the adapter has told the node about each order: every order event once.

IB may repeat itself (an execution sent again after a reconnect, a status repeated, an error
and then its status): fills are booked once per ``execId``, acceptance, cancellation and
rejection once per order, and a quantity a fill would overfill is not reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.brokers.tracking import OrderEvents
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport

logger = logging.getLogger(__name__)
#: IB keeps a GTD time to the second: it may expire an order up to a second before our time.
_GTD_GRANULARITY_NS = 1_000_000_000


@dataclass
class Known:
    """One order of this adapter.

    Attributes
    ----------
    order_id : int
        IB's order id (0 until placed; back to 0 when IB refused it before booking).
    perm_id : int
        IB's permanent id, once IB answered.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    strategy_id: str = ""
    position_id: str = ""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    expire_ns: int | None = None
    order_id: int = 0
    perm_id: int = 0
    accepted: bool = False
    closed: bool = False
    cancel_requested: bool = False
    exec_ids: set[str] = field(default_factory=set)
    filled: Decimal = Decimal(0)

    @classmethod
    def of(cls, order: Order) -> Known:
        """A new record of ``order``."""
        return cls(order.client_order_id, order.symbol, order.side, order.quantity,
                   order.strategy_id, order.position_id or "", order.price,
                   order.trigger_price, order.expire_ns)

    @property
    def done(self) -> bool:
        """Nothing more can happen to it."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


class Tracker(OrderEvents):
    """Tracked orders and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The wall clock (event times when IB gives none).
    """

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self.now_ns = now_ns
        super().__init__()
        self.orders: dict[str, Known] = {}
        self.by_order_id: dict[int, str] = {}
        #: IB order ids of placements IB refused before booking them (or never got).
        self.refused: set[int] = set()

    def add(self, known: Known) -> Known:
        """Track an order (kept when tracked already)."""
        return self.orders.setdefault(known.client_order_id, known)

    def link(self, known: Known, order_id: int) -> None:
        """Record the IB order id the order was placed under."""
        if order_id:
            known.order_id = order_id
            self.by_order_id[order_id] = known.client_order_id

    def refuse(self, known: Known) -> None:
        """Forget the IB order id: IB refused the order before booking it (or never got it),
        and whatever IB still says about that id is not about this order."""
        if known.order_id:
            self.refused.add(known.order_id)
            self.by_order_id.pop(known.order_id, None)
        known.order_id = 0

    def of_order_id(self, order_id: int) -> Known | None:
        """The order placed under an IB order id."""
        cid = self.by_order_id.get(order_id)
        return self.orders.get(cid) if cid is not None else None

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self.orders.values() if not k.done]

    # -- events -------------------------------------------------------------------------------

    def accept(self, known: Known, ts: int = 0) -> None:
        """IB holds the order (once)."""
        if not known.accepted and not known.closed:
            known.accepted = True
            self._emit(ev.OrderAccepted(ts=ts or self.now_ns(),
                                        venue_order_id=str(known.order_id or known.perm_id),
                                        **self._base(known)))

    def on_fill(self, known: Known, fill: FillReport) -> None:
        """An execution of the order (once per execId)."""
        if fill.trade_id in known.exec_ids:
            return
        if known.filled + fill.quantity > known.quantity:
            logger.error("an execution would overfill the order; not reported", extra={
                "fields": {"client_order_id": known.client_order_id, "exec_id": fill.trade_id}})
            return
        self.accept(known, fill.ts)
        known.exec_ids.add(fill.trade_id)
        known.filled += fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self.now_ns(), venue_order_id=fill.venue_order_id,
            trade_id=fill.trade_id, side=fill.side, last_qty=fill.quantity,
            last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, position_id=known.position_id,
            **self._base(known)))

    def seen(self, known: Known, fill: FillReport) -> None:
        """An execution the node books by itself (lookups, reconciliation): no event."""
        if fill.trade_id not in known.exec_ids:
            known.exec_ids.add(fill.trade_id)
            known.filled += fill.quantity

    def updated(self, known: Known, quantity: Decimal | None, price: Decimal | None,
                trigger_price: Decimal | None) -> None:
        """IB took a change of the order (an empty change still answers the request)."""
        if known.closed:
            return
        quantity = quantity if quantity != known.quantity else None
        price = price if price != known.price else None
        trigger_price = trigger_price if trigger_price != known.trigger_price else None
        known.quantity = quantity or known.quantity
        known.price = price or known.price
        known.trigger_price = trigger_price or known.trigger_price
        self._emit(ev.OrderUpdated(ts=self.now_ns(), quantity=quantity, price=price,
                                   trigger_price=trigger_price, **self._base(known)))

    def cancelled(self, known: Known, reason: str = "", ts: int = 0) -> None:
        """IB cancelled the order: CANCELED, or EXPIRED when its GTD time has passed (to IB's
        second) and nobody asked for a cancel."""
        if known.closed:
            return
        known.closed = True
        now = ts or self.now_ns()
        if known.expire_ns is not None and not known.cancel_requested \
                and now >= known.expire_ns - _GTD_GRANULARITY_NS:
            self._emit(ev.OrderExpired(ts=now, **self._base(known)))
            return
        self._emit(ev.OrderCanceled(ts=now, reason=reason, **self._base(known)))

    def rejected(self, known: Known, reason: str) -> None:
        """IB refused the order."""
        if known.closed:
            return
        known.closed = True
        self._emit(ev.OrderRejected(ts=self.now_ns(), reason=reason or "rejected by IB",
                                    **self._base(known)))

    def cancel_refused(self, known: Known, reason: str) -> None:
        """IB refused a cancel the node asked for (the order keeps working, or it filled)."""
        if not known.cancel_requested:
            return
        known.cancel_requested = False
        self._emit(ev.OrderCancelRejected(ts=self.now_ns(), reason=reason,
                                          **self._base(known)))


__all__ = ["Known", "Tracker"]
