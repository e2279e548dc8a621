"""The paper venue in the node's own process (:class:`InProcessPaperClient`): the default paper
mode, no network.

It implements :class:`~tradeloop.execution.ports.LiveExecutionClient` directly on a
:class:`~tradeloop.brokers.paper.venue.PaperVenue`, with the same answers and errors as the
HTTP client: a rejected order raises :class:`~tradeloop.brokers.paper.errors.PaperFatalError`
and its ``OrderRejected`` event follows; events reach the handler on the event loop that called
:meth:`InProcessPaperClient.connect`, in seq order, never inside the call that caused them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from decimal import Decimal

from tradeloop.brokers.paper.errors import PaperFatalError, PaperRetryableError
from tradeloop.brokers.paper.protocol import ReasonCode
from tradeloop.brokers.paper.state import StoredEvent
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)


class InProcessPaperClient:
    """A node's execution client on a paper venue in the same process.

    Parameters
    ----------
    venue : PaperVenue
    owner : str
        This node's name at a shared venue ("" sees every order).
    since_seq : int, optional
        Deliver the venue's events after this seq on connect; None starts from now.
    """

    def __init__(self, venue: PaperVenue, *, owner: str = "",
                 since_seq: int | None = None) -> None:
        self._venue = venue
        self.venue = venue.venue
        self.capabilities: VenueCapabilities = venue.capabilities
        self.owner = owner
        self._handler: EventHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last_seq = since_seq
        self._loop_thread = 0

    @property
    def last_seq(self) -> int:
        """The seq of the last event handled."""
        return self._last_seq or 0

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self._handler = handler

    async def connect(self) -> None:
        """Subscribe to the venue's events (and deliver those after ``since_seq``)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._unsubscribe = self._venue.subscribe(self._on_event)
        if self._last_seq is None:
            self._last_seq = self._venue.last_seq
            return
        while True:
            missed = self._venue.events_since(self.last_seq, 1000)
            if not missed:
                break
            for stored in missed:
                self._deliver(stored)

    async def disconnect(self) -> None:
        """Stop hearing the venue, and have it save its marks (the venue stays open)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None
        self._loop = None
        with contextlib.suppress(Exception):  # the venue has stopped and logged why
            self._venue.persist_marks()

    async def submit_order(self, order: Order) -> None:
        """Send a new order.

        Raises
        ------
        PaperFatalError
            The venue rejected it (the ``OrderRejected`` event follows).
        """
        self._require()
        result = self._venue.submit(order, owner=self.owner)
        if result.rejected:
            raise PaperFatalError(result.code or ReasonCode.INVALID_ORDER, result.report.reason,
                                  result.report)

    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order.

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND or ORDER_NOT_OPEN.
        """
        self._require()
        self._venue.cancel(order.client_order_id)

    async def modify_order(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order.

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND, ORDER_NOT_OPEN, INVALID_VOLUME, INVALID_PRICE or INVALID_ORDER.
        """
        self._require()
        self._venue.modify(order.client_order_id, quantity, price, trigger_price)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order of this node (of one instrument when given)."""
        self._require()
        for report in self._venue.open_orders(self.owner or None):
            if symbol is None or report.symbol == symbol:
                self._venue.cancel(report.client_order_id)

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The venue's view of one order, or None when it never saw that id."""
        return self._venue.status(client_order_id)

    async def open_orders(self) -> list[OrderStatusReport]:
        """This node's orders that can still fill."""
        return self._venue.open_orders(self.owner or None)

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """This node's fills at or after ``ts_ns``, oldest first."""
        return self._venue.fills_since(ts_ns, self.owner or None)

    async def positions(self) -> list[PositionReport]:
        """The account's net positions."""
        return self._venue.positions()

    async def account(self) -> AccountReport:
        """The account's balances."""
        return self._venue.account()

    def _require(self) -> None:
        if self._loop is None:
            raise PaperRetryableError("NOT_CONNECTED", "the in-process paper client is not "
                                      "connected")

    def _on_event(self, stored: StoredEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            # the node fed the venue from the loop: the event belongs before the strategies
            # see that market data, exactly as in a backtest
            self._deliver(stored)
        else:
            loop.call_soon_threadsafe(self._deliver, stored)

    def _deliver(self, stored: StoredEvent) -> None:
        if stored.seq <= self.last_seq:
            return
        self._last_seq = stored.seq
        if self.owner and stored.owner != self.owner:
            return
        if self._handler is None:
            logger.warning("paper venue event with no handler bound", extra={"fields": {
                "seq": stored.seq, "kind": stored.event.kind}})
            return
        try:
            self._handler(stored.event)
        except Exception:  # the handler's failure must not reach the venue
            logger.exception("order event handler failed", extra={"fields": {
                "seq": stored.seq, "kind": stored.event.kind}})


__all__ = ["InProcessPaperClient"]
