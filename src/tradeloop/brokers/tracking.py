"""What every adapter's order tracker shares: where its order events go, the fields every event
carries, and how a change the venue made to a working order becomes ``OrderUpdated``.

Each adapter keeps its own tracker (what a venue reports, and in which order, differs), built on
:class:`OrderEvents`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from tradeloop.execution.ports import EventHandler
from tradeloop.model import events as ev
from tradeloop.model.reports import OrderStatusReport

logger = logging.getLogger(__name__)


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


__all__ = ["OrderEvents", "TrackedOrder"]
