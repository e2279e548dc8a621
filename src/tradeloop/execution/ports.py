"""The broker port: the one narrow interface every execution venue implements.

A venue adapter receives orders and reports what happens to them as events through the handler
it was bound to. It declares what it supports natively; the order emulator supplies the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradeloop.model import events as ev
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

EventHandler = Callable[[ev.OrderEvent], None]


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """What a venue does natively.

    Attributes
    ----------
    order_types : frozenset of OrderType
    time_in_force : frozenset of TimeInForce
    oco : bool
        Links one-cancels-other orders itself.
    oto : bool
        Holds a child order until its parent fills (brackets need ``oto`` and ``oco``).
    trailing_stop : bool
        Moves trailing stops itself.
    """

    order_types: frozenset[OrderType] = field(default_factory=lambda: frozenset(OrderType))
    time_in_force: frozenset[TimeInForce] = field(default_factory=lambda: frozenset(TimeInForce))
    oco: bool = True
    oto: bool = True
    trailing_stop: bool = True

    def supports(self, order: Order) -> bool:
        """True when the venue can take ``order`` as it is."""
        return order.order_type in self.order_types and order.time_in_force in self.time_in_force


class ExecutionClient(Protocol):
    """What the execution engine needs of a venue."""

    venue: str
    capabilities: VenueCapabilities

    def bind(self, handler: EventHandler) -> None:
        """Set where the client reports order events."""
        ...

    def submit_order(self, order: Order) -> None:
        """Send a new order. Its linked orders (``order.linked_ids``) are already in the cache."""
        ...

    def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order."""
        ...

    def modify_order(
        self,
        order: Order,
        quantity: Decimal | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order."""
        ...


class LiveExecutionClient(Protocol):
    """What the live execution engine needs of a venue that answers over a network.

    Calls are coroutines run on the node's event loop. They raise the error tree of
    :mod:`tradeloop.core.errors`, and the class decides what happens next:
    ``RetryableVenueError`` (rate limit, requote, busy: the request did not take effect; retry
    with backoff), ``FatalVenueError`` (invalid volume, insufficient funds, market closed: no
    retry) and ``OutcomeUnknownError`` (timeout or disconnect after sending: look the order up
    by its client order id before anything else, never resend blindly). Order events the venue
    pushes (accepted, filled, cancelled...) go to the handler given to :meth:`bind`, on the loop.
    Submitting a client order id the venue already has must not create a second order.
    """

    venue: str
    capabilities: VenueCapabilities

    def bind(self, handler: EventHandler) -> None:
        """Set where the client reports order events."""
        ...

    async def connect(self) -> None:
        """Open the connection (and the event stream); raise when the venue is unreachable."""
        ...

    async def disconnect(self) -> None:
        """Close the connection."""
        ...

    async def submit_order(self, order: Order) -> None:
        """Send a new order."""
        ...

    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order."""
        ...

    async def modify_order(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order."""
        ...

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The venue's view of one order, or None when it has never seen that id."""
        ...

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every order that can still fill."""
        ...

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Executions booked at or after ``ts_ns``, oldest first."""
        ...

    async def positions(self) -> list[PositionReport]:
        """Net positions, one per instrument that is not flat."""
        ...

    async def account(self) -> AccountReport:
        """Balances."""
        ...


class IntentJournal(Protocol):
    """Where an order's intent becomes durable before the order is sent (write-ahead).

    The audit database implements it. A failure raises, and the order is then not sent: the
    order path fails closed.
    """

    def record_intent(self, order: Order, submitted: ev.OrderSubmitted | None = None) -> None:
        """Commit ``order`` (status INITIALIZED or SUBMITTED) before it leaves the node.

        ``submitted``, when given, is the submission the node applies next: it is committed
        with the intent, so the order is recorded as SUBMITTED in the same commit.
        """
        ...

    def record_event(self, event: ev.OrderEvent) -> None:
        """Commit an order event (a fill with its trade id)."""
        ...

    def open_intents(self) -> list[Order]:
        """Orders recorded locally whose final state is not known yet."""
        ...
