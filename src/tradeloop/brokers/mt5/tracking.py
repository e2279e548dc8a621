"""What the adapter has told the node about each order: each order event once, from polled
MetaTrader orders and deals (deal tickets are the trade ids, so a deal seen twice books once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.brokers.tracking import OrderEvents
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)
_FINAL = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


@dataclass
class Known:
    """One order of this adapter."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    strategy_id: str = ""
    position_id: str = ""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    ticket: int = 0
    accepted: bool = False
    closed: bool = False
    deals: set[str] = field(default_factory=set)
    filled: Decimal = Decimal(0)

    @property
    def done(self) -> bool:
        """Nothing more can happen to it."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


class Tracker(OrderEvents):
    """Tracked orders and the events sent about them."""

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now = now_ns
        super().__init__()
        self.orders: dict[str, Known] = {}
        self.by_ticket: dict[int, str] = {}

    def add(self, known: Known) -> Known:
        """Track an order (kept when tracked already)."""
        return self.orders.setdefault(known.client_order_id, known)

    def link(self, known: Known, ticket: int) -> None:
        """Record the order's ticket."""
        if ticket and not known.ticket:
            known.ticket = ticket
            self.by_ticket[ticket] = known.client_order_id

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self.orders.values() if not k.done]

    def on_fill(self, known: Known, fill: FillReport) -> None:
        """A deal of the order (once per deal ticket)."""
        if fill.trade_id in known.deals:
            return
        if known.filled + fill.quantity > known.quantity:
            logger.error("a deal would overfill the order; not reported", extra={"fields": {
                "client_order_id": known.client_order_id, "deal": fill.trade_id}})
            return
        self._accept(known, fill.ts)
        known.deals.add(fill.trade_id)
        known.filled += fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self._now(), venue_order_id=fill.venue_order_id,
            trade_id=fill.trade_id, side=fill.side, last_qty=fill.quantity,
            last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, position_id=known.position_id,
            **self._base(known)))

    def seen(self, known: Known, fill: FillReport) -> None:
        """A deal the node books by itself (reconciliation, lookups): no event."""
        if fill.trade_id not in known.deals:
            known.deals.add(fill.trade_id)
            known.filled += fill.quantity

    def on_report(self, known: Known, report: OrderStatusReport) -> None:
        """Apply the order's state (after its deals)."""
        if known.closed:
            return
        if report.status is OrderStatus.REJECTED:
            known.closed = True
            self._emit(ev.OrderRejected(ts=report.ts_last or self._now(),
                                        reason=report.reason or "rejected", **self._base(known)))
            return
        self._accept(known, report.ts_accepted)
        if report.is_open:
            price = report.price if report.price not in (None, known.price) else None
            trigger = report.trigger_price if report.trigger_price not in (
                None, known.trigger_price) else None
            if price is not None or trigger is not None:
                known.price = price or known.price
                known.trigger_price = trigger or known.trigger_price
                self._emit(ev.OrderUpdated(ts=report.ts_last or self._now(), price=price,
                                           trigger_price=trigger, **self._base(known)))
        if report.status in _FINAL:
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **self._base(known)))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **self._base(known)))

    def _accept(self, known: Known, ts: int) -> None:
        if not known.accepted:
            known.accepted = True
            self._emit(ev.OrderAccepted(ts=ts or self._now(), venue_order_id=str(known.ticket),
                                        **self._base(known)))


__all__ = ["Known", "Tracker"]
