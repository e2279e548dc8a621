"""The execution engine: routes commands to venues and applies what comes back.

Every order event passes through :meth:`ExecutionEngine.process`, which applies it to the
cached order (a duplicate fill is dropped there), books fills into the portfolio, publishes the
event on ``events.order.<strategy_id>``, and then lets the order emulator react to it, so
subscribers see a cause (a fill) before its consequences (the cancelled sibling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, cast

import msgspec

from tradeloop.core.bus import MessageBus, StrategyPublisher
from tradeloop.core.clock import Clock
from tradeloop.core.errors import InvalidStateTransition
from tradeloop.core.faults import crash_point
from tradeloop.core.logging import get_logger
from tradeloop.execution.emulator import OrderEmulator
from tradeloop.execution.ports import ExecutionClient, IntentJournal
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.enums import ContingencyType, OrderStatus, OrderType
from tradeloop.model.orders import Order

# enum members read on the hot path, bound once (docs/decisions/0011)
_CANCELED: Final = OrderStatus.CANCELED
_EXPIRED: Final = OrderStatus.EXPIRED
_NO_CONTINGENCY: Final = ContingencyType.NONE
_TRAILING_STOP: Final = OrderType.TRAILING_STOP
_REJECTED: Final = OrderStatus.REJECTED
# classes met on every order, bound once: ``ev.X`` is a module lookup each time
_ORDER_SUBMITTED: Final = ev.OrderSubmitted
_SUBMIT_ORDER: Final = cmd.SubmitOrder
_SUBMIT_ORDER_LIST: Final = cmd.SubmitOrderList

log = get_logger(__name__)

EXECUTE = "ExecEngine.execute"
PROCESS = "ExecEngine.process"

FillHandler = Callable[[ev.OrderFilled], object]

#: Final reports a venue may repeat (an error answer and then its event, a duplicated
#: message): seen again in the state they lead to, they change nothing.
_REPEATS: Final[dict[type[ev.OrderEvent], OrderStatus]] = {
    ev.OrderRejected: _REJECTED,
    ev.OrderCanceled: _CANCELED,
    ev.OrderExpired: _EXPIRED,
}


class ExecutionEngine:
    """Sends orders to execution clients and keeps the cache true to their reports.

    Parameters
    ----------
    bus : MessageBus
        Registers the ``ExecEngine.execute`` and ``ExecEngine.process`` endpoints.
    cache : Cache
    clock : Clock
    on_fill : callable
        Books a fill (the portfolio's ``on_fill``).
    """

    def __init__(
        self, bus: MessageBus, cache: Cache, clock: Clock, on_fill: FillHandler
    ) -> None:
        self._bus = bus
        self._cache = cache
        self._clock = clock
        self._on_fill = on_fill
        self._clients: dict[str, ExecutionClient] = {}
        self._default: ExecutionClient | None = None
        self._publish = StrategyPublisher(bus, "events.order.")
        #: Where order intents become durable before they are sent (live and paper); None in
        #: backtests.
        self.journal: IntentJournal | None = None
        self.emulator = OrderEmulator(cache, self._send_to_venue, self.process, clock)
        self.emulator.cancel_at_venue = self._cancel_at_venue
        bus.register(EXECUTE, self.execute)
        bus.register(PROCESS, self.process)

    def register_client(self, client: ExecutionClient, default: bool = False) -> None:
        """Route orders for instruments of ``client.venue`` to ``client``."""
        client.bind(self.process)
        self._clients[client.venue] = client
        if default or self._default is None:
            self._default = client

    def client_for(self, order: Order) -> ExecutionClient:
        """The client that trades ``order``'s instrument."""
        venue = self._cache.instrument(order.symbol).venue
        client = self._clients.get(venue, self._default)
        if client is None:
            raise RuntimeError("no execution client registered")
        return client

    def execute(self, command: cmd.Command) -> None:
        """Carry out a command that passed the risk gate."""
        if isinstance(command, _SUBMIT_ORDER):
            self._submit((command.order,))
        elif isinstance(command, _SUBMIT_ORDER_LIST):
            self._submit(command.orders)
        elif isinstance(command, cmd.CancelOrder):
            self._cancel(command)
        else:
            self._modify(command)

    def _submit(self, orders: tuple[Order, ...]) -> None:
        now = self._clock.now_ns()
        submitted = [
            _ORDER_SUBMITTED(ts=now, client_order_id=order.client_order_id,
                              strategy_id=order.strategy_id, symbol=order.symbol)
            for order in orders
        ]
        if self.journal is not None and not self._write_ahead(orders, submitted, now):
            return
        for event in submitted:
            self.process(event)
        client = self.client_for(orders[0])
        caps = client.capabilities
        if caps.oco and caps.oto and caps.trailing_stop:
            # the venue holds every kind of order itself: the emulator would hold none
            for order in orders:
                client.submit_order(order)
            return
        # Hold first: a parent the venue rejects at once must find its children held, to
        # cancel them.
        to_send = []
        for order in orders:
            if (order.contingency is _NO_CONTINGENCY and order.parent_id is None
                    and order.order_type is not _TRAILING_STOP):
                to_send.append(order)  # nothing for the emulator to hold or link
            elif self.emulator.should_hold(order, caps):
                self.emulator.hold(order)
            else:
                to_send.append(order)
        for order in to_send:
            client.submit_order(order)

    def _write_ahead(self, orders: tuple[Order, ...], submitted: list[ev.OrderSubmitted],
                     now: int) -> bool:
        """Make each order's intent durable, with the submission about to be applied (one
        commit), before anything is sent; deny them all if one cannot be recorded (the order
        path fails closed)."""
        assert self.journal is not None
        try:
            for order, event in zip(orders, submitted, strict=True):
                self.journal.record_intent(order, event)
        except Exception as exc:
            log.error("order intent not recorded: nothing sent", extra={"fields": {
                "client_order_id": orders[0].client_order_id, "error": str(exc)}})
            for order in orders:
                self.process(ev.OrderDenied(
                    ts=now, client_order_id=order.client_order_id,
                    strategy_id=order.strategy_id, symbol=order.symbol,
                    reason=f"not sent: the audit database could not record it ({exc})",
                ))
            return False
        crash_point("after_intent")
        return True

    def _send_to_venue(self, order: Order) -> None:
        self.client_for(order).submit_order(order)

    def _cancel(self, command: cmd.CancelOrder) -> None:
        order = self._cache.order(command.client_order_id)
        if order is None or not (order.is_open or self.emulator.holds(order)):
            self._reject_request(command.client_order_id, ev.OrderCancelRejected,
                                 "order is not open")
            return
        if self.emulator.holds(order):
            self.emulator.cancel(order)
            return
        self.process(ev.OrderPendingCancel(
            ts=self._clock.now_ns(), client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol,
        ))
        self.client_for(order).cancel_order(order)

    def _cancel_at_venue(self, order: Order) -> None:
        self._cancel(cmd.CancelOrder(order.client_order_id, self._clock.now_ns()))

    def _modify(self, command: cmd.ModifyOrder) -> None:
        order = self._cache.order(command.client_order_id)
        if order is None or not (order.is_open or self.emulator.holds(order)):
            self._reject_request(command.client_order_id, ev.OrderModifyRejected,
                                 "order is not open")
            return
        if self.emulator.holds(order):
            self.emulator.modify(order, command.quantity, command.price, command.trigger_price)
            return
        self.process(ev.OrderPendingUpdate(
            ts=self._clock.now_ns(), client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol,
        ))
        self.client_for(order).modify_order(
            order, command.quantity, command.price, command.trigger_price
        )

    def _reject_request(
        self, client_order_id: str,
        kind: type[ev.OrderCancelRejected] | type[ev.OrderModifyRejected], reason: str,
    ) -> None:
        order = self._cache.order(client_order_id)
        event = kind(
            ts=self._clock.now_ns(), client_order_id=client_order_id,
            strategy_id=order.strategy_id if order else "", symbol=order.symbol if order else "",
            reason=reason,
        )
        if order is not None:
            self._publish(event)
        else:
            log.warning("request for an unknown order", extra={"fields": {
                "client_order_id": client_order_id, "request": kind.__name__, "reason": reason}})

    def process(self, event: ev.OrderEvent) -> None:
        """Apply a venue's (or the risk gate's) event to its order and pass it on."""
        cache = self._cache
        order = cache.orders.get(event.client_order_id)
        if order is None:
            log.warning("event for an unknown order", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})
            return
        if event.strategy_id != order.strategy_id:
            # a venue's report knows the order, not who sent it (orders learned after a restart)
            event = _owned_by(event, order)
        try:
            applied = order.apply(event)
        except InvalidStateTransition as exc:
            if _REPEATS.get(type(event)) is order.status:
                # the venue said it twice (an error answer, then its event): nothing new
                log.info("ignored a repeated order report", extra={"fields": {
                    "client_order_id": order.client_order_id, "event": event.kind}})
                return
            log.error("ignored an impossible order event", extra={"fields": {
                "client_order_id": order.client_order_id, "event": event.kind,
                "error": str(exc)}})
            return
        if not applied:
            log.info("ignored a duplicate fill", extra={"fields": {
                "client_order_id": order.client_order_id,
                "trade_id": getattr(event, "trade_id", "")}})
            return
        cache.refresh_order(order)
        if _is_fill(event):
            self._on_fill(cast(ev.OrderFilled, event))
        self._publish(event)  # the event carries its order's strategy id (see above)
        if order.contingency is not _NO_CONTINGENCY:  # nothing linked: nothing to do
            self.emulator.on_event(order, event)  # after the strategy saw the cause


_FILL_CLASSES: Final[dict[type, bool]] = {}


def _is_fill(event: ev.OrderEvent) -> bool:
    # isinstance against a struct class binds its metaclass's __instancecheck__ anew (an
    # allocation) for every event that is not exactly of that class
    cls = type(event)
    known = _FILL_CLASSES.get(cls)
    if known is None:
        known = _FILL_CLASSES[cls] = issubclass(cls, ev.OrderFilled)
    return known


def _owned_by(event: ev.OrderEvent, order: Order) -> ev.OrderEvent:
    if isinstance(event, ev.OrderFilled) and not event.position_id and order.position_id:
        return msgspec.structs.replace(event, strategy_id=order.strategy_id,
                                       position_id=order.position_id)
    return msgspec.structs.replace(event, strategy_id=order.strategy_id)
