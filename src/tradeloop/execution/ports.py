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
