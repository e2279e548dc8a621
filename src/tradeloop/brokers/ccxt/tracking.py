"""What the adapter has told the node about each order, and the events that bring the node up
to the exchange's view: :class:`~tradeloop.brokers.tracking.TradeTracker` (snapshots from a
REST answer, a poll or a websocket update, and the account's trades), plus the exchange's
refusal to book an IOC/FOK order it could not fill."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tradeloop.brokers.tracking import KnownOrder, TradeTracker
from tradeloop.model import events as ev

logger = logging.getLogger(__name__)


class OrderTracker(TradeTracker[KnownOrder]):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time for events that have no exchange time.
    """

    known_type = KnownOrder

    def __init__(self, now_ns: Callable[[], int]) -> None:
        super().__init__(now_ns, "the exchange")

    def expire(self, client_order_id: str, reason: str) -> None:
        """The exchange refused to book an IOC/FOK order it could not fill as asked: the order
        ends EXPIRED, as its time in force says, not rejected."""
        known = self.get(client_order_id)
        if known is None or known.closed:
            return
        known.closed = True
        logger.info("IOC/FOK order not booked: it could not fill", extra={"fields": {
            "client_order_id": client_order_id, "reason": reason}})
        self._emit(ev.OrderExpired(ts=self._now(), **self._base(known)))


__all__ = ["OrderTracker"]
