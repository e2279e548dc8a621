"""The order tracker: each event once, whatever order and how often Fyers tells."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.brokers.fyers.tracking import OrderTracker
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport


def _setup() -> tuple[OrderTracker, list[ev.OrderEvent]]:
    events: list[ev.OrderEvent] = []
    tracker = OrderTracker(lambda: 1)
    tracker.bind(events.append)
    tracker.add(Order("CF1", "S", "NSE:SBIN-EQ", OrderSide.BUY, OrderType.LIMIT, Decimal(10),
                      0, price=Decimal("800")))
    return tracker, events


def _report(status: OrderStatus = OrderStatus.ACCEPTED, filled: int = 0,
            price: str = "800") -> OrderStatusReport:
    return OrderStatusReport(client_order_id="CF1", venue_order_id="V1", symbol="NSE:SBIN-EQ",
                             side=OrderSide.BUY, order_type=OrderType.LIMIT,
                             quantity=Decimal(10), filled_qty=Decimal(filled), status=status,
                             price=Decimal(price), ts_accepted=5, ts_last=6)


def _fill(trade: str, qty: int) -> FillReport:
    return FillReport(client_order_id="CF1", venue_order_id="V1", trade_id=trade,
                      symbol="NSE:SBIN-EQ", side=OrderSide.BUY, quantity=Decimal(qty),
                      price=Decimal("800"), ts=7)


def test_reports_twice_make_one_acceptance_and_fills_once_per_trade() -> None:
    tracker, events = _setup()
    tracker.on_report(_report())
    tracker.on_report(_report())
    assert tracker.on_fill(_fill("T1", 4)) and not tracker.on_fill(_fill("T1", 4))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled"]
    assert tracker.duplicates_dropped == 1 and tracker.client_id_of("V1") == "CF1"


def test_a_fill_before_the_acknowledgement_accepts_first() -> None:
    tracker, events = _setup()
    tracker.on_fill(_fill("T1", 10))
    tracker.on_report(_report(OrderStatus.FILLED, 10))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled"]
    assert tracker.working() == []


def test_a_cancellation_waits_for_the_fills_it_shows() -> None:
    tracker, events = _setup()
    tracker.on_report(_report())
    cancelled = _report(OrderStatus.CANCELED, 3)
    assert tracker.missing_fills(cancelled)
    tracker.on_report(cancelled)
    assert [e.kind for e in events] == ["OrderAccepted"]  # not yet: a fill is missing
    tracker.on_fill(_fill("T1", 3))
    tracker.on_report(cancelled)
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled", "OrderCanceled"]


def test_a_new_price_is_an_update_and_a_rejection_ends_the_order() -> None:
    tracker, events = _setup()
    tracker.on_report(_report(price="799.5"))
    assert [e.kind for e in events] == ["OrderAccepted", "OrderUpdated"]
    assert events[-1].price == Decimal("799.5")  # type: ignore[attr-defined]
    other, seen = _setup()
    other.on_report(_report(OrderStatus.REJECTED))
    other.on_report(_report(OrderStatus.REJECTED))
    assert [e.kind for e in seen] == ["OrderRejected"]


def test_an_order_adopted_after_a_restart_does_not_repeat_old_fills() -> None:
    events: list[ev.OrderEvent] = []
    tracker = OrderTracker(lambda: 1)
    tracker.bind(events.append)
    tracker.adopt(_report(OrderStatus.PARTIALLY_FILLED, 4))
    assert not tracker.on_fill(_fill("T1", 4))  # the node had it before the restart
    assert tracker.on_fill(_fill("T2", 6))
    assert [e.kind for e in events] == ["OrderFilled"]
