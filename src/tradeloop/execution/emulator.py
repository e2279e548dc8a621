"""The order emulator: contingent orders and trailing stops for venues that lack them.

* OTO: a child is held here until its parent fills, then sent to the venue.
* OCO: when one leg fills or ends, the emulator cancels the others.
* Trailing stop: held here; the stop follows the prices the emulator is shown (bar closes or
  ticks) and, once crossed, the order is released to the venue as a market order.

Venues that do these natively (the simulated venue does) never see the emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.core.clock import Clock
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.enums import ContingencyType, OrderSide, OrderType, TrailingOffsetType
from tradeloop.model.orders import Order


@dataclass(slots=True)
class _Trail:
    order: Order
    ref: float | None = None
    active: bool = False


class OrderEmulator:
    """Holds and releases orders on behalf of venues that cannot.

    Parameters
    ----------
    cache : Cache
    send : callable
        Sends an order to its venue.
    process : callable
        Applies an event to an order (the execution engine's ``process``).
    clock : Clock
    """

    def __init__(
        self,
        cache: Cache,
        send: Callable[[Order], None],
        process: Callable[[ev.OrderEvent], None],
        clock: Clock,
    ) -> None:
        self._cache = cache
        self._send = send
        self._process = process
        self._clock = clock
        self._held: dict[str, Order] = {}
        self._trails: dict[str, _Trail] = {}
        self._oco: set[str] = set()
        #: True while emulated trailing stops need prices (a plain flag: the data loop reads
        #: it for every bar).
        self.watching = False
        self.cancel_at_venue: Callable[[Order], None] | None = None


    def holds(self, order: Order) -> bool:
        """True when the emulator, not a venue, has the order."""
        return order.client_order_id in self._held

    def should_hold(self, order: Order, capabilities: VenueCapabilities) -> bool:
        """Decide whether an order goes to the emulator instead of the venue."""
        if order.contingency is ContingencyType.OCO and not capabilities.oco:
            self._oco.add(order.client_order_id)
        parent_waiting = (
            order.parent_id is not None
            and not capabilities.oto
            and self._parent_unfilled(order)
        )
        trailing = order.order_type is OrderType.TRAILING_STOP and not capabilities.trailing_stop
        return parent_waiting or trailing

    def _parent_unfilled(self, order: Order) -> bool:
        parent = self._cache.order(order.parent_id or "")
        return parent is not None and parent.filled_qty == 0

    def hold(self, order: Order) -> None:
        """Keep an order until its parent fills or its trailing stop is crossed."""
        self._held[order.client_order_id] = order
        if order.order_type is OrderType.TRAILING_STOP:
            self.watching = True
            self._trails[order.client_order_id] = _Trail(
                order, active=not self._parent_unfilled(order)
            )

    def cancel(self, order: Order) -> None:
        """Cancel a held order."""
        self._drop(order)
        self._emit(ev.OrderCanceled, order, reason="")

    def modify(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Change a held order."""
        self._emit(ev.OrderUpdated, order, quantity=quantity, price=price,
                   trigger_price=trigger_price)

    def on_event(self, order: Order, event: ev.OrderEvent) -> None:
        """React to an event of any order: release children, cancel OCO siblings."""
        if order.contingency is ContingencyType.OTO:
            if isinstance(event, ev.OrderFilled):
                for child_id in order.linked_ids:
                    self._release_child(child_id)
            elif order.is_closed and order.filled_qty == 0:
                for child_id in order.linked_ids:
                    child = self._held.get(child_id)
                    if child is not None:
                        self._drop(child)
                        self._emit(ev.OrderCanceled, child,
                                   reason=f"parent {order.client_order_id} {order.status.lower()}")
        if order.client_order_id in self._oco and order.is_closed:
            self._oco.discard(order.client_order_id)
            for sibling_id in order.linked_ids:
                sibling = self._cache.order(sibling_id)
                if sibling is None or sibling.is_closed:
                    continue
                if self.holds(sibling):
                    self.cancel(sibling)
                elif self.cancel_at_venue is not None and sibling.is_open:
                    self.cancel_at_venue(sibling)

    def _release_child(self, child_id: str) -> None:
        child = self._held.get(child_id)
        if child is None:
            return
        trail = self._trails.get(child_id)
        if trail is not None:
            trail.active = True
            return
        del self._held[child_id]
        self._send(child)

    def on_price(self, symbol: str, price: float) -> None:
        """Move emulated trailing stops with a new price and release any that are crossed."""
        for trail in list(self._trails.values()):
            order = trail.order
            if order.symbol != symbol or not trail.active:
                continue
            sell = order.side is OrderSide.SELL
            if trail.ref is None:
                trail.ref = price
            trail.ref = max(trail.ref, price) if sell else min(trail.ref, price)
            offset = float(order.trailing_offset or 0)
            if order.trailing_offset_type is TrailingOffsetType.PERCENT:
                offset = trail.ref * offset / 100
            stop = trail.ref - offset if sell else trail.ref + offset
            if (sell and price <= stop) or (not sell and price >= stop):
                self._drop(order)
                self._emit(ev.OrderTriggered, order)
                order.order_type = OrderType.MARKET  # released to the venue as a market order
                self._send(order)

    def _drop(self, order: Order) -> None:
        self._held.pop(order.client_order_id, None)
        self._trails.pop(order.client_order_id, None)
        self.watching = bool(self._trails)

    def _emit(self, kind: type[ev.OrderEvent], order: Order, **fields: object) -> None:
        self._process(kind(
            ts=self._clock.now_ns(), client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol, **fields,
        ))
