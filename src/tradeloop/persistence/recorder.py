"""Records what a running node publishes on its message bus into the audit store.

The execution engine publishes every order event it applied on ``events.order.<strategy_id>``
(risk denials included, as ``OrderDenied``), and the kernel publishes position changes on
``events.position.<strategy_id>``; the risk engine publishes each change of the trading state
(halts, the kill switch, resumptions) on ``events.risk``. The recorder subscribes to all three
and writes each message synchronously, in the order it arrives, before the bus moves on to the
next handler.
A fill passes the ``after_fill_before_commit`` crash point (:mod:`tradeloop.core.faults`)
before it is written, so crash tests can kill a node that applied a fill but never recorded it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import TradeloopError
from tradeloop.core.faults import crash_point
from tradeloop.model import events as ev
from tradeloop.model.orders import Order
from tradeloop.persistence.errors import MissingIntentError
from tradeloop.persistence.repositories import AuditStore

logger = logging.getLogger(__name__)

ORDER_TOPICS = "events.order.*"
POSITION_TOPICS = "events.position.*"
RISK_TOPIC = "events.risk"
#: Rule name of risk events recorded from an ``OrderDenied`` that carries no code.
RISK_GATE_RULE = "risk_gate"

ErrorHandler = Callable[[Exception, ev.Event], None]


class AuditRecorder:
    """Subscribes an :class:`AuditStore` to a node's bus.

    Parameters
    ----------
    store : AuditStore
    orders : callable, optional
        Looks an order up by client order id (the node's ``cache.order``). When an event
        arrives for an order whose intent was never recorded (an order path without the
        write-ahead journal, a backtest), the order is recorded from there first.
    on_error : callable, optional
        Called with the exception and the message when a write fails, after the failure is
        logged. A failed write never raises into the bus: that would cut the event off from
        the handlers after this one (strategies, the order emulator). Wire it to halt
        trading when an incomplete audit trail is unacceptable.

    Attributes
    ----------
    failures : int
        Writes that failed since the recorder was created.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        orders: Callable[[str], Order | None] | None = None,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self._store = store
        self._orders = orders
        self._on_error = on_error
        self.failures = 0

    def subscribe(self, bus: MessageBus) -> None:
        """Record every order, position and trading state event published on ``bus`` from
        now on."""
        bus.subscribe(ORDER_TOPICS, self.on_order_event)
        bus.subscribe(POSITION_TOPICS, self.on_position_event)
        bus.subscribe(RISK_TOPIC, self.on_risk_event)

    def unsubscribe(self, bus: MessageBus) -> None:
        """Stop recording ``bus``."""
        bus.unsubscribe(ORDER_TOPICS, self.on_order_event)
        bus.unsubscribe(POSITION_TOPICS, self.on_position_event)
        bus.unsubscribe(RISK_TOPIC, self.on_risk_event)

    def on_order_event(self, event: ev.OrderEvent) -> None:
        """Commit one order event (and, for a denial, the risk decision)."""
        if isinstance(event, ev.OrderFilled):
            crash_point("after_fill_before_commit")
        try:
            self._record_order_event(event)
            if isinstance(event, ev.OrderDenied):
                self._store.record_risk_event(
                    event.code or RISK_GATE_RULE, "DENIED", event.reason,
                    client_order_id=event.client_order_id, strategy_id=event.strategy_id,
                    symbol=event.symbol, ts=event.ts, limit=event.limit or None,
                    value=event.value or None,
                )
        except TradeloopError as exc:
            self._failed(exc, event)

    def on_risk_event(self, event: ev.Event) -> None:
        """Commit a change of the trading state: its cause as the rule, the new state as the
        decision, the reason and who acted."""
        if not isinstance(event, ev.TradingStateChanged):
            return
        try:
            self._store.record_risk_event(event.code, event.state, event.reason, ts=event.ts,
                                          by=event.by or None)
        except TradeloopError as exc:
            self._failed(exc, event)

    def on_position_event(self, event: ev.PositionEvent) -> None:
        """Commit one position change."""
        try:
            self._store.record_position(event)
        except TradeloopError as exc:
            self._failed(exc, event)

    def _record_order_event(self, event: ev.OrderEvent) -> None:
        try:
            self._store.record_event(event)
            return
        except MissingIntentError:
            order = self._orders(event.client_order_id) if self._orders is not None else None
            if order is None:
                raise
        # The node applied the event before publishing it, so the order recorded now holds
        # it; recording the event again finds it there and changes nothing.
        self._store.record_intent(order)
        self._store.record_event(event)

    def _failed(self, exc: Exception, message: ev.Event) -> None:
        self.failures += 1
        logger.error("audit write failed", extra={"fields": {
            "event": message.kind, "error": str(exc),
            "client_order_id": getattr(message, "client_order_id", ""),
        }})
        if self._on_error is not None:
            self._on_error(exc, message)
