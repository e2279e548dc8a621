"""What the adapter has told the node about each order, and the events that bring the node up
to Schwab's view.

Schwab's state of an order arrives as a whole (a poll, a lookup) and again and again.
:class:`OrderTracker` turns each snapshot into the events the node has not had yet:
``OrderAccepted`` first, ``OrderUpdated`` when a modify changed the order, one ``OrderFilled``
per execution (its trade id is Schwab's activity id: an execution listed twice is booked once),
then the final cancel, expiry or rejection once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.brokers.tracking import OrderEvents
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
_FINAL = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


@dataclass
class Known:
    """One order as the node was told about it."""

    client_order_id: str
    symbol: str
    quantity: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    strategy_id: str = ""
    position_id: str = ""
    venue_order_id: str = ""
    entered_ns: int = 0
    accepted: bool = False
    closed: bool = False
    trades: dict[str, Decimal] = field(default_factory=dict)
    unidentified: Decimal = ZERO  # filled before this adapter knew the order

    @property
    def filled(self) -> Decimal:
        """What the node knows has filled."""
        return sum(self.trades.values(), ZERO) + self.unidentified

    @property
    def done(self) -> bool:
        """True once nothing more can happen to the order."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


class OrderTracker(OrderEvents):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time for events Schwab gives no time for.
    """

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now = now_ns
        super().__init__()
        self.orders: dict[str, Known] = {}
        #: Executions dropped because their trade id was booked already.
        self.duplicates_dropped = 0

    def add(self, order: Order) -> Known:
        """Track an order this adapter is sending."""
        known = self.orders.get(order.client_order_id)
        if known is None:
            known = Known(order.client_order_id, order.symbol, order.quantity, order.price,
                          order.trigger_price, order.strategy_id, order.position_id or "")
            self.orders[order.client_order_id] = known
        return known

    def adopt(self, report: OrderStatusReport) -> Known:
        """Track an order learned from Schwab (a lookup, a restart) as the node will take it
        from ``report``: accepted, with what the report says filled."""
        known = self.orders.get(report.client_order_id)
        if known is not None:
            return known
        known = Known(report.client_order_id, report.symbol, report.quantity, report.price,
                      report.trigger_price, venue_order_id=report.venue_order_id,
                      entered_ns=report.ts_accepted,
                      accepted=report.status is not OrderStatus.REJECTED,
                      closed=report.status in _FINAL, unidentified=report.filled_qty)
        self.orders[report.client_order_id] = known
        return known

    def seen(self, fill: FillReport) -> None:
        """A fill the node books by itself (reconciliation, a lookup): no event for it."""
        known = self.orders.get(fill.client_order_id)
        if known is not None and fill.trade_id not in known.trades:
            known.trades[fill.trade_id] = fill.quantity
            known.unidentified = max(ZERO, known.unidentified - fill.quantity)

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self.orders.values() if not k.done]

    def apply(self, report: OrderStatusReport, fills: Sequence[FillReport]) -> None:
        """Bring the node up to one snapshot of an order and its executions."""
        known = self.orders.get(report.client_order_id)
        if known is None or (known.closed and not fills):
            return
        if report.venue_order_id:
            known.venue_order_id = report.venue_order_id
        known.entered_ns = known.entered_ns or report.ts_accepted
        base = self._base(known)
        if report.status is OrderStatus.REJECTED and known.filled == 0:
            if not known.closed:
                known.closed = True
                self._emit(ev.OrderRejected(ts=report.ts_last or self._now(),
                                            reason=report.reason or "rejected by Schwab",
                                            **base))
            return
        self._accept(known, report.ts_accepted)
        if report.is_open:
            self._update(known, report)
        for fill in fills:
            self._fill(known, fill)
        if report.status in _FINAL and not known.closed:
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **base))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **base))

    def _fill(self, known: Known, fill: FillReport) -> None:
        if fill.trade_id in known.trades:
            self.duplicates_dropped += 1
            return
        if 0 < fill.quantity <= known.unidentified:
            known.unidentified -= fill.quantity  # the node had it before this adapter did
            known.trades[fill.trade_id] = fill.quantity
            return
        if known.filled + fill.quantity > known.quantity:
            logger.error("an execution would overfill the order; not reported", extra={
                "fields": {"client_order_id": known.client_order_id,
                           "trade_id": fill.trade_id}})
            return
        self._accept(known, fill.ts)
        known.trades[fill.trade_id] = fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self._now(), venue_order_id=fill.venue_order_id or
            known.venue_order_id, trade_id=fill.trade_id, side=fill.side,
            last_qty=fill.quantity, last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency or "USD", liquidity=fill.liquidity,
            position_id=known.position_id, **self._base(known)))

    def _accept(self, known: Known, ts: int) -> None:
        if known.accepted:
            return
        known.accepted = True
        self._emit(ev.OrderAccepted(ts=ts or self._now(), venue_order_id=known.venue_order_id,
                                    **self._base(known)))


__all__ = ["Known", "OrderTracker"]
