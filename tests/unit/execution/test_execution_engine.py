"""The execution engine: routing, applying venue reports, duplicates and refused requests.

Most tests use a scripted client that records what the engine asks of it and reports events
back through the handler it was bound to, so each report is under the test's control.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from venue_harness import BUY, START_NS, STRATEGY, SYMBOL, Harness

from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order


class ScriptedClient:
    """An execution client that does nothing by itself."""

    capabilities = VenueCapabilities()

    def __init__(self, venue: str = "SIM") -> None:
        self.venue = venue
        self.handler: EventHandler | None = None
        self.calls: list[tuple[str, str]] = []

    def bind(self, handler: EventHandler) -> None:
        self.handler = handler

    def submit_order(self, order: Order) -> None:
        self.calls.append(("submit", order.client_order_id))

    def cancel_order(self, order: Order) -> None:
        self.calls.append(("cancel", order.client_order_id))

    def modify_order(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        self.calls.append(("modify", order.client_order_id))

    def report(self, kind: type[ev.OrderEvent], order: Order, **fields: object) -> None:
        assert self.handler is not None
        self.handler(kind(ts=START_NS, client_order_id=order.client_order_id,
                          strategy_id=order.strategy_id, symbol=order.symbol, **fields))

    def fill(self, order: Order, qty: str, px: str, trade_id: str) -> None:
        self.report(ev.OrderFilled, order, venue_order_id="V-1", trade_id=trade_id,
                    side=order.side, last_qty=Decimal(qty), last_px=Decimal(px))


class Rig:
    """A kernel with a scripted client and everything published for strategy ``T``."""

    def __init__(self) -> None:
        self.clock = TestClock(START_NS)
        self.kernel = Kernel(self.clock, Account("A", "USD", AccountType.MARGIN, Decimal(10**6)))
        self.kernel.add_instrument(Instrument.equity(SYMBOL))
        self.client = ScriptedClient()
        self.kernel.add_execution_client(self.client)
        self.published: list[ev.OrderEvent] = []
        self.kernel.bus.subscribe(f"events.order.{STRATEGY}", self.published.append)
        self.n = 0

    def submit(self, side: OrderSide = BUY, qty: int = 10) -> Order:
        self.n += 1
        order = Order(f"E-{self.n}", STRATEGY, SYMBOL, side, OrderType.MARKET, Decimal(qty),
                      START_NS)
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, START_NS))
        return order

    def accepted(self, side: OrderSide = BUY, qty: int = 10) -> Order:
        order = self.submit(side, qty)
        self.client.report(ev.OrderAccepted, order, venue_order_id="V-1")
        return order

    def kinds(self) -> list[str]:
        return [e.kind for e in self.published]

    def execute(self, command: cmd.Command) -> None:
        self.kernel.bus.send("RiskEngine.execute", command)


@pytest.fixture
def rig() -> Rig:
    return Rig()


@pytest.fixture
def engine_log() -> Iterator[list[logging.LogRecord]]:
    """Records of the execution engine's logger, whatever the logging setup."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tradeloop.execution.engine")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


# -- the happy path --------------------------------------------------------------------------


def test_a_report_without_its_sender_is_booked_for_the_order_s_strategy(rig: Rig) -> None:
    order = rig.accepted()
    assert rig.client.handler is not None
    # a venue's report of an order the node learned about after a restart: no strategy id
    rig.client.handler(ev.OrderFilled(
        ts=START_NS, client_order_id=order.client_order_id, strategy_id="", symbol=SYMBOL,
        venue_order_id="V-1", trade_id="T-1", side=BUY, last_qty=Decimal(10),
        last_px=Decimal(100)))
    fill = rig.published[-1]
    assert isinstance(fill, ev.OrderFilled) and fill.strategy_id == STRATEGY
    assert [p.strategy_id for p in rig.kernel.cache.open_positions(SYMBOL)] == [STRATEGY]


def test_events_reach_the_strategy_topic_in_order(rig: Rig) -> None:
    order = rig.submit()
    assert rig.kinds() == ["OrderSubmitted"]
    assert rig.client.calls == [("submit", order.client_order_id)]
    rig.client.report(ev.OrderAccepted, order, venue_order_id="V-1")
    rig.client.fill(order, "10", "101.5", "T-1")
    assert rig.kinds() == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert order.status is OrderStatus.FILLED
    assert order.venue_order_id == "V-1"
    assert rig.kernel.cache.open_orders() == []


def test_fills_are_booked_in_the_portfolio(rig: Rig) -> None:
    order = rig.accepted()
    rig.client.fill(order, "4", "100", "T-1")
    rig.client.fill(order, "6", "105", "T-2")
    assert order.avg_px == Decimal("103")
    assert rig.kernel.portfolio.net_quantity(SYMBOL) == 10
    assert rig.kernel.cache.positions[f"{SYMBOL}-{STRATEGY}"].avg_px == Decimal("103")


def test_with_the_simulated_venue(h: Harness) -> None:
    order = h.send(BUY, 5)
    h.bar(100, 101, 99, 100.5)
    assert h.kinds(order) == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert [type(e) for e in order.events] == [ev.OrderSubmitted, ev.OrderAccepted,
                                               ev.OrderFilled]


def test_risk_denial_is_published(rig: Rig) -> None:
    rig.kernel.risk.halt("maintenance")
    order = rig.submit()
    assert order.status is OrderStatus.DENIED
    assert rig.kinds() == ["OrderDenied"]
    assert rig.client.calls == []


# -- duplicate and impossible reports --------------------------------------------------------


def test_duplicate_fill_is_ignored_and_logged(
    rig: Rig, engine_log: list[logging.LogRecord]
) -> None:
    order = rig.accepted()
    rig.client.fill(order, "4", "100", "T-1")
    rig.client.fill(order, "4", "100", "T-1")
    assert order.filled_qty == 4
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert rig.kinds().count("OrderFilled") == 1
    assert rig.kernel.portfolio.net_quantity(SYMBOL) == 4
    (record,) = [r for r in engine_log if "duplicate" in r.getMessage()]
    assert record.fields == {"client_order_id": order.client_order_id, "trade_id": "T-1"}  # type: ignore[attr-defined]
    rig.client.fill(order, "6", "100", "T-2")
    assert order.status is OrderStatus.FILLED


def test_impossible_report_is_logged_and_dropped(
    rig: Rig, engine_log: list[logging.LogRecord]
) -> None:
    order = rig.accepted()
    rig.client.fill(order, "10", "100", "T-1")
    rig.client.report(ev.OrderAccepted, order, venue_order_id="V-2")
    assert order.status is OrderStatus.FILLED
    assert rig.kinds()[-1] == "OrderFilled"
    assert any(r.levelno == logging.ERROR and "impossible" in r.getMessage()
               for r in engine_log)


def test_report_for_an_unknown_order_is_logged(
    rig: Rig, engine_log: list[logging.LogRecord]
) -> None:
    rig.kernel.bus.send("ExecEngine.process", ev.OrderAccepted(
        ts=START_NS, client_order_id="nope", strategy_id=STRATEGY, venue_order_id="V"))
    assert rig.published == []
    assert any(r.levelno == logging.WARNING and "unknown order" in r.getMessage()
               for r in engine_log)


def test_late_fill_after_a_cancel_is_applied(rig: Rig) -> None:
    order = rig.accepted()
    rig.execute(cmd.CancelOrder(order.client_order_id, START_NS))
    rig.client.report(ev.OrderCanceled, order)
    rig.client.fill(order, "10", "100", "T-1")
    assert order.status is OrderStatus.FILLED
    assert rig.kernel.portfolio.net_quantity(SYMBOL) == 10


# -- cancel and modify -----------------------------------------------------------------------


def test_cancel_goes_to_the_venue_and_waits_for_its_answer(rig: Rig) -> None:
    order = rig.accepted()
    rig.execute(cmd.CancelOrder(order.client_order_id, START_NS))
    assert order.status is OrderStatus.PENDING_CANCEL
    assert rig.client.calls[-1] == ("cancel", order.client_order_id)
    rig.client.report(ev.OrderCanceled, order)
    assert order.status is OrderStatus.CANCELED
    assert rig.kinds()[-2:] == ["OrderPendingCancel", "OrderCanceled"]


def test_cancel_refused_by_the_venue_restores_the_order(rig: Rig) -> None:
    order = rig.accepted()
    rig.client.fill(order, "4", "100", "T-1")
    rig.execute(cmd.CancelOrder(order.client_order_id, START_NS))
    rig.client.report(ev.OrderCancelRejected, order, reason="too late")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert rig.kinds()[-1] == "OrderCancelRejected"


def test_cancel_of_a_closed_order_is_rejected(rig: Rig) -> None:
    order = rig.accepted()
    rig.client.fill(order, "10", "100", "T-1")
    events_before = order.events
    rig.execute(cmd.CancelOrder(order.client_order_id, START_NS))
    rejected = rig.published[-1]
    assert isinstance(rejected, ev.OrderCancelRejected)
    assert rejected.client_order_id == order.client_order_id
    assert rejected.reason == "order is not open"
    assert order.status is OrderStatus.FILLED
    assert order.events == events_before
    assert ("cancel", order.client_order_id) not in rig.client.calls


def test_cancel_of_an_unknown_order_reaches_no_venue(rig: Rig) -> None:
    rig.execute(cmd.CancelOrder("no-such-order", START_NS))
    assert rig.client.calls == []
    assert rig.published == []


def test_cancel_of_a_closed_order_at_the_simulated_venue(h: Harness) -> None:
    order = h.send(BUY, 5)
    h.bar(100, 101, 99, 100.5)
    h.cancel(order)
    assert h.kinds(order)[-1] == "OrderCancelRejected"
    assert order.status is OrderStatus.FILLED


def test_simulated_venue_refuses_to_cancel_what_it_does_not_hold(h: Harness) -> None:
    order = h.send(BUY, 5, price=90)
    h.venue._by_id.clear()  # the venue lost it
    h.venue._books.clear()
    h.cancel(order)
    assert h.kinds(order)[-2:] == ["OrderPendingCancel", "OrderCancelRejected"]
    assert order.status is OrderStatus.ACCEPTED


def test_modify_goes_to_the_venue(rig: Rig) -> None:
    order = rig.accepted()
    rig.execute(cmd.ModifyOrder(order.client_order_id, START_NS, quantity=Decimal(20)))
    assert order.status is OrderStatus.PENDING_UPDATE
    assert rig.client.calls[-1] == ("modify", order.client_order_id)
    rig.client.report(ev.OrderUpdated, order, quantity=Decimal(20))
    assert order.status is OrderStatus.ACCEPTED
    assert order.quantity == 20


def test_modify_of_a_closed_order_is_rejected(rig: Rig) -> None:
    order = rig.accepted()
    rig.client.report(ev.OrderCanceled, order)
    rig.execute(cmd.ModifyOrder(order.client_order_id, START_NS, price=Decimal(1)))
    assert isinstance(rig.published[-1], ev.OrderModifyRejected)
    assert order.status is OrderStatus.CANCELED


# -- routing ---------------------------------------------------------------------------------


def test_orders_go_to_the_client_of_their_instruments_venue(rig: Rig) -> None:
    other = ScriptedClient("XNAS")
    rig.kernel.add_execution_client(other)
    rig.kernel.add_instrument(Instrument.equity("NAS", venue="XNAS"))
    order = Order("R-1", STRATEGY, "NAS", BUY, OrderType.MARKET, Decimal(1), START_NS)
    rig.kernel.cache.add_order(order)
    rig.execute(cmd.SubmitOrder(order, START_NS))
    assert other.calls == [("submit", "R-1")]
    assert rig.client.calls == []
    other.report(ev.OrderAccepted, order, venue_order_id="N-1")
    assert rig.published[-1].client_order_id == "R-1"


def test_unknown_venue_falls_back_to_the_default_client(rig: Rig) -> None:
    rig.kernel.add_instrument(Instrument.equity("FAR", venue="ELSEWHERE"))
    order = Order("R-2", STRATEGY, "FAR", BUY, OrderType.MARKET, Decimal(1), START_NS)
    rig.kernel.cache.add_order(order)
    rig.execute(cmd.SubmitOrder(order, START_NS))
    assert rig.client.calls == [("submit", "R-2")]


def test_no_client_at_all_is_an_error() -> None:
    kernel = Kernel(TestClock(START_NS), Account("A", "USD", AccountType.MARGIN, Decimal(1)))
    kernel.add_instrument(Instrument.equity(SYMBOL))
    order = Order("X-1", STRATEGY, SYMBOL, BUY, OrderType.MARKET, Decimal(1), START_NS)
    with pytest.raises(RuntimeError, match="no execution client"):
        kernel.execution.client_for(order)
