"""The recorder on a real message bus: events as the node publishes them, in order, and a
whole kernel trading against the simulated venue."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from audit_helpers import START_NS, accepted, filled, make_order, submitted

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import TestClock
from tradeloop.core.time import NANOS_PER_HOUR
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditRecorder, AuditStore, PersistenceError


def _position(quantity: str, ts: int) -> ev.PositionChanged:
    return ev.PositionChanged(
        ts=ts, position_id="ABC-T", symbol="ABC", strategy_id="T", quantity=Decimal(quantity),
        avg_px=Decimal("100.5"), realized_pnl=Decimal(0), currency="USD",
    )


def test_order_and_position_events_are_recorded_in_order(store: AuditStore) -> None:
    bus = MessageBus()
    AuditRecorder(store).subscribe(bus)
    order = make_order("O-1", quantity="10")
    store.record_intent(order)  # the write-ahead intent
    published: list[ev.Event] = [
        submitted(order), accepted(order, "V-1"),
        filled(order, "4", "100.5", "T-1"), filled(order, "4", "100.5", "T-1"),  # resent
        filled(order, "6", "100.5", "T-2", ts=START_NS + 3),
    ]
    for event in published:
        assert isinstance(event, ev.OrderEvent)
        order.apply(event)
        bus.publish(f"events.order.{order.strategy_id}", event)
    bus.publish("events.position.T", _position("10", START_NS + 3))

    stored = store.order("O-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty, stored.avg_px, stored.venue_order_id) == (
        order.status, order.filled_qty, order.avg_px, order.venue_order_id
    )
    assert [e.kind for e in store.order_events("O-1")] == [
        "OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderFilled"
    ]
    assert [f.trade_id for f in store.fills()] == ["T-1", "T-2"]
    assert store.latest_positions() == [_position("10", START_NS + 3)]


def test_a_denial_is_recorded_as_an_order_event_and_a_risk_decision(
    store: AuditStore,
) -> None:
    bus = MessageBus()
    AuditRecorder(store).subscribe(bus)
    order = make_order("O-1")
    store.record_intent(order)
    bus.publish("events.order.T", ev.OrderDenied(
        ts=START_NS, client_order_id="O-1", strategy_id="T", symbol="ABC",
        reason="insufficient buying power",
    ))
    stored = store.order("O-1")
    assert stored is not None and stored.status is OrderStatus.DENIED
    [risk] = store.risk_events()
    assert (risk.rule, risk.decision, risk.reason, risk.client_order_id, risk.ts) == (
        "risk_gate", "DENIED", "insufficient buying power", "O-1", START_NS
    )


def test_an_order_without_an_intent_is_recorded_from_the_lookup(store: AuditStore) -> None:
    bus = MessageBus()
    order = make_order("O-1")
    AuditRecorder(store, orders={"O-1": order}.get).subscribe(bus)
    event = submitted(order)
    order.apply(event)  # the node applies an event before publishing it
    bus.publish("events.order.T", event)
    stored = store.order("O-1")
    assert stored is not None and stored.status is OrderStatus.SUBMITTED
    assert [e.kind for e in store.order_events("O-1")] == ["OrderSubmitted"]


def test_a_failed_write_is_reported_and_never_breaks_the_bus(
    store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MessageBus()
    failures: list[tuple[Exception, ev.Event]] = []
    recorder = AuditRecorder(store, on_error=lambda exc, msg: failures.append((exc, msg)))
    recorder.subscribe(bus)
    after: list[ev.Event] = []
    bus.subscribe("events.order.T", after.append)  # a strategy, subscribed after the recorder

    unknown = submitted(make_order("O-unknown"))
    bus.publish("events.order.T", unknown)  # no intent and no lookup
    store.database.close()
    bus.publish("events.position.T", _position("1", START_NS))

    assert after == [unknown]
    assert recorder.failures == 2
    assert [type(exc).__name__ for exc, _ in failures] == [
        "MissingIntentError", "PersistenceError"
    ]
    assert isinstance(failures[1][0], PersistenceError)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "audit write failed", "audit write failed"
    ]


def test_unsubscribed_recorders_record_nothing(store: AuditStore) -> None:
    bus = MessageBus()
    recorder = AuditRecorder(store)
    recorder.subscribe(bus)
    recorder.unsubscribe(bus)
    bus.publish("events.position.T", _position("1", START_NS))
    assert store.latest_positions() == []


# -- a whole kernel -----------------------------------------------------------------------------


class _Node:
    """A kernel on a test clock trading one instrument on the simulated venue."""

    def __init__(self, store: AuditStore) -> None:
        self.clock = TestClock(START_NS)
        self.kernel = Kernel(self.clock, Account("SIM-001", "USD", AccountType.MARGIN,
                                                 Decimal(1_000_000)))
        self.kernel.add_instrument(Instrument.equity("ABC"))
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue, default=True)
        AuditRecorder(store, orders=self.kernel.cache.order).subscribe(self.kernel.bus)
        self.ts = START_NS

    def submit(self, order: Order) -> Order:
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def bar(self, open_: float, high: float, low: float, close: float) -> None:
        self.clock.advance_to(self.ts)
        self.venue.process_bar("ABC", self.ts, open_, high, low, close, 1e9)
        self.kernel.cache.last_prices["ABC"] = close
        self.ts += NANOS_PER_HOUR
        self.clock.advance_to(self.ts)


def test_a_kernel_trading_session_is_recorded_faithfully(store: AuditStore) -> None:
    node = _Node(store)
    buy = node.submit(make_order("buy", quantity="100"))
    limit = node.submit(make_order("limit", side=OrderSide.SELL, quantity="40",
                                   price="103.00"))
    never = node.submit(make_order("never", quantity="5", price="50.00"))
    odd = node.submit(make_order("odd-lot", quantity="0.5"))  # off the lot grid: denied
    node.bar(100.0, 101.0, 99.5, 100.5)
    node.bar(100.5, 104.0, 100.0, 103.5)
    node.kernel.bus.send("RiskEngine.execute", cmd.CancelOrder("never", node.clock.now_ns()))

    memory = {o.client_order_id: o for o in (buy, limit, never, odd)}
    assert (buy.status, limit.status, never.status, odd.status) == (
        OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.DENIED
    )
    for client_order_id, in_memory in memory.items():
        stored = store.order(client_order_id)
        assert stored is not None
        assert (stored.status, stored.filled_qty, stored.avg_px, stored.venue_order_id,
                stored.commission) == (
            in_memory.status, in_memory.filled_qty, in_memory.avg_px,
            in_memory.venue_order_id, in_memory.commission,
        ), client_order_id
        assert stored.events == in_memory.events
    assert {f.client_order_id for f in store.fills()} == {"buy", "limit"}
    [position] = store.latest_positions()
    net = node.kernel.portfolio.net_quantity("ABC")
    assert position.quantity == net == Decimal(60)
    assert [r.client_order_id for r in store.risk_events()] == ["odd-lot"]
    assert store.open_intents() == []
    assert buy.order_type is OrderType.MARKET
