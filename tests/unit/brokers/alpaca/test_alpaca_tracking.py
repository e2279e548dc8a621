"""The Alpaca adapter's order tracker: each order accepted once, each execution booked once
whatever order, duplicate or gap the updates come in, and replacements followed."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.brokers.alpaca.tracking import OrderTracker
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport


def _setup() -> tuple[OrderTracker, list[ev.OrderEvent], Order]:
    events: list[ev.OrderEvent] = []
    tracker = OrderTracker(lambda: 1)
    tracker.bind(events.append)
    order = Order(client_order_id="CF1", strategy_id="S", symbol="AAPL", side=OrderSide.BUY,
                  order_type=OrderType.LIMIT, quantity=Decimal(10), ts_init=0,
                  price=Decimal(150))
    tracker.add(order)
    return tracker, events, order


def _report(status: OrderStatus, *, filled: str = "0", qty: str = "10", price: str = "150",
            venue: str = "V1") -> OrderStatusReport:
    return OrderStatusReport(client_order_id="CF1", venue_order_id=venue, symbol="AAPL",
                             side=OrderSide.BUY, order_type=OrderType.LIMIT,
                             quantity=Decimal(qty), filled_qty=Decimal(filled), status=status,
                             price=Decimal(price), ts_accepted=5, ts_last=6)


def _fill(trade: str, qty: str, venue: str = "V1") -> FillReport:
    return FillReport(client_order_id="CF1", venue_order_id=venue, trade_id=trade,
                      symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(qty),
                      price=Decimal(150), ts=7)


def test_a_fill_before_the_acknowledgement_and_duplicates_are_booked_once() -> None:
    tracker, events, _ = _setup()
    tracker.on_fill(_fill("E1", "4"))  # the fill overtook "new"
    tracker.on_fill(_fill("E1", "4"))
    tracker.on_report(_report(OrderStatus.ACCEPTED))
    tracker.on_report(_report(OrderStatus.PARTIALLY_FILLED, filled="4"))
    assert [type(e).__name__ for e in events] == ["OrderAccepted", "OrderFilled"]
    assert tracker.duplicates_dropped == 1
    assert not tracker.missing_fills(_report(OrderStatus.PARTIALLY_FILLED, filled="4"))
    assert tracker.missing_fills(_report(OrderStatus.PARTIALLY_FILLED, filled="6"))


def test_a_replacement_updates_the_order_and_old_snapshots_are_ignored() -> None:
    tracker, events, _ = _setup()
    tracker.accept("CF1", "V1", "CF1", 5)
    tracker.on_fill(_fill("E1", "4"))
    replacement = _report(OrderStatus.ACCEPTED, qty="12", filled="4", price="149",
                          venue="V2")
    tracker.replaced("CF1", replacement, "CF1.r1", Decimal(4), Decimal(600))
    updated = events[-1]
    assert isinstance(updated, ev.OrderUpdated)
    assert (updated.quantity, updated.price) == (Decimal(12), Decimal(149))
    tracker.on_report(_report(OrderStatus.CANCELED, venue="V1"))  # the old order, late
    known = tracker.get("CF1")
    assert known is not None and not known.closed and known.chain == ["V1", "V2"]
    assert tracker.client_id_of("V1") == tracker.client_id_of("V2") == "CF1"
    tracker.on_fill(_fill("E2", "8", venue="V2"))
    assert known.done and isinstance(events[-1], ev.OrderFilled)


def test_a_refused_group_member_is_rejected_once_and_never_after_acceptance() -> None:
    tracker, events, _ = _setup()
    tracker.reject("CF1", "its contingent group was refused: no")
    tracker.reject("CF1", "again")
    assert [type(e).__name__ for e in events] == ["OrderRejected"]
    other, events2, _ = _setup()
    other.accept("CF1", "V1", "leg-id", 5)
    other.reject("CF1", "too late")
    assert [type(e).__name__ for e in events2] == ["OrderAccepted"]


def test_an_order_adopted_from_a_lookup_is_not_reported_again() -> None:
    tracker = OrderTracker(lambda: 1)
    events: list[ev.OrderEvent] = []
    tracker.bind(events.append)
    report = _report(OrderStatus.PARTIALLY_FILLED, filled="4")
    tracker.adopt(report, "CF1", ["V1"])
    tracker.on_fill(_fill("E1", "4"))  # the node has it from the lookup's catch-up
    tracker.on_report(report)
    assert events == []
    tracker.on_fill(_fill("E2", "6"))
    assert [type(e).__name__ for e in events] == ["OrderFilled"]
