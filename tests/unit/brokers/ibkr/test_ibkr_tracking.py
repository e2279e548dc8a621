"""Every order event once: executions by execId, acceptance, cancellation (or expiry),
rejection and refused cancels."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.brokers.ibkr.tracking import Known, Tracker
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide
from tradeloop.model.reports import FillReport


def tracked(expire_ns: int | None = None) -> tuple[Tracker, Known, list[ev.OrderEvent]]:
    events: list[ev.OrderEvent] = []
    tracker = Tracker(lambda: 1_000)
    tracker.bind(events.append)
    known = tracker.add(Known("C1", "AAPL", OrderSide.BUY, Decimal(10), "S", price=Decimal(1),
                              expire_ns=expire_ns))
    tracker.link(known, 7)
    return tracker, known, events


def execution(exec_id: str, qty: int) -> FillReport:
    return FillReport(client_order_id="C1", venue_order_id="7", trade_id=exec_id,
                      symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(qty),
                      price=Decimal("150.25"), commission=Decimal("1.5"),
                      commission_currency="USD", ts=500)


def test_an_execution_is_booked_once_and_accepts_first() -> None:
    tracker, known, events = tracked()
    tracker.on_fill(known, execution("e1", 4))
    tracker.on_fill(known, execution("e1", 4))
    tracker.accept(known)
    assert [type(e) for e in events] == [ev.OrderAccepted, ev.OrderFilled]
    filled = events[1]
    assert isinstance(filled, ev.OrderFilled)
    assert (filled.trade_id, filled.last_qty, filled.commission, filled.strategy_id) == (
        "e1", Decimal(4), Decimal("1.5"), "S")
    assert events[0].venue_order_id == "7"  # type: ignore[attr-defined]
    assert tracker.of_order_id(7) is known and known.filled == 4 and not known.done


def test_an_overfill_is_not_reported() -> None:
    tracker, known, events = tracked()
    tracker.on_fill(known, execution("e1", 8))
    tracker.on_fill(known, execution("e2", 8))
    assert [e.trade_id for e in events if isinstance(e, ev.OrderFilled)] == ["e1"]


def test_executions_seen_elsewhere_are_not_reported_again() -> None:
    tracker, known, events = tracked()
    tracker.seen(known, execution("e1", 10))
    tracker.on_fill(known, execution("e1", 10))
    assert events == [] and known.done


def test_cancel_once_and_expiry_after_the_gtd_time() -> None:
    tracker, known, events = tracked()
    tracker.cancelled(known, "IB error 202: cancelled")
    tracker.cancelled(known)
    tracker.rejected(known, "late")
    assert [type(e) for e in events] == [ev.OrderCanceled]
    tracker, known, events = tracked(expire_ns=900)
    tracker.cancelled(known)
    assert [type(e) for e in events] == [ev.OrderExpired]
    tracker, known, events = tracked(expire_ns=900)
    known.cancel_requested = True
    tracker.cancelled(known)
    assert [type(e) for e in events] == [ev.OrderCanceled]
    tracker, known, events = tracked(expire_ns=999_000_999)  # IB keeps whole seconds
    tracker.cancelled(known)
    assert [type(e) for e in events] == [ev.OrderExpired]
    tracker, known, events = tracked(expire_ns=5 * 10**9)  # long before its time: cancelled
    tracker.cancelled(known)
    assert [type(e) for e in events] == [ev.OrderCanceled]


def test_updates_report_what_changed() -> None:
    tracker, known, events = tracked()
    tracker.updated(known, Decimal(10), Decimal(2), None)
    tracker.updated(known, None, Decimal(2), None)
    first, second = events
    assert isinstance(first, ev.OrderUpdated) and isinstance(second, ev.OrderUpdated)
    assert (first.quantity, first.price, first.trigger_price) == (None, Decimal(2), None)
    assert (second.quantity, second.price) == (None, None)  # an answer with no change
    assert known.price == Decimal(2)


def test_a_refused_cancel_is_reported_only_when_one_was_asked_for() -> None:
    tracker, known, events = tracked()
    tracker.cancel_refused(known, "IB error 161")
    known.cancel_requested = True
    tracker.cancel_refused(known, "IB error 161")
    tracker.cancel_refused(known, "IB error 161")
    assert [type(e) for e in events] == [ev.OrderCancelRejected]


def test_a_refused_placement_is_forgotten() -> None:
    tracker, known, _ = tracked()
    tracker.refuse(known)
    assert known.order_id == 0 and tracker.of_order_id(7) is None and tracker.refused == {7}


def test_a_failing_handler_does_not_stop_the_tracker() -> None:
    tracker = Tracker(lambda: 1)

    def boom(event: ev.OrderEvent) -> None:
        raise RuntimeError("handler")

    tracker.bind(boom)
    known = tracker.add(Known("C2", "AAPL", OrderSide.SELL, Decimal(1)))
    tracker.accept(known)
    assert known.accepted
