"""What the adapter has told the node about each order, and the events that bring the node up
to Schwab's view.

Schwab's state of an order arrives as a whole (a poll, a lookup) and again and again.
:class:`OrderTracker` turns each snapshot into the events the node has not had yet:
``OrderAccepted`` first, ``OrderUpdated`` when a modify changed the order, one ``OrderFilled``
per execution (its trade id is Schwab's activity id: an execution listed twice is booked once),
then the final cancel, expiry or rejection once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradeloop.brokers.tracking import FINAL, KnownOrder, TradeTracker
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus
from tradeloop.model.reports import FillReport, OrderStatusReport


@dataclass
class Known(KnownOrder):
    """One order as the node was told about it, and when Schwab entered it."""

    entered_ns: int = 0


class OrderTracker(TradeTracker[Known]):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time for events Schwab gives no time for.
    """

    known_type = Known

    def __init__(self, now_ns: Callable[[], int]) -> None:
        super().__init__(now_ns, "Schwab")

    def tracks(self, client_order_id: str) -> bool:
        """Whether this adapter tracks the order."""
        return self.get(client_order_id) is not None

    def adopt(self, report: OrderStatusReport) -> Known:
        """Track an order learned from Schwab (a lookup, a restart) as the node will take it
        from ``report``: accepted, with what the report says filled."""
        known = super().adopt(report)
        known.entered_ns = known.entered_ns or report.ts_accepted
        return known

    def apply(self, report: OrderStatusReport, fills: Sequence[FillReport]) -> None:
        """Bring the node up to one snapshot of an order and its executions."""
        known = self.get(report.client_order_id)
        if known is None or (known.closed and not fills):
            return
        if report.venue_order_id:  # a replaced order has a new id
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
            self.on_fill(fill)
        if report.status in FINAL and not known.closed:
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **base))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **base))


__all__ = ["Known", "OrderTracker"]
