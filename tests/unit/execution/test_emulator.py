"""The order emulator: brackets, OCO and trailing stops for a venue that lacks them.

``bare`` is a kernel whose simulated venue declares no OCO, no OTO and no trailing stops, so the
execution engine routes those parts through its ``OrderEmulator``.
"""

from __future__ import annotations

from decimal import Decimal

from venue_harness import BUY, SELL, Harness

from tradeloop.model import commands as cmd
from tradeloop.model.enums import ContingencyType, OrderStatus, OrderType

FLAT = (100.0, 101.0, 99.0, 100.5)


def go_long(h: Harness, qty: int = 10) -> None:
    h.send(BUY, qty)
    h.bar(*FLAT)


# -- brackets --------------------------------------------------------------------------------


def test_bracket_children_are_held_until_the_entry_fills(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    parent, sl, tp = bare.bracket(BUY, 10, 95, 110, entry=98)
    assert parent.status is OrderStatus.ACCEPTED
    for child in (sl, tp):
        assert child.status is OrderStatus.SUBMITTED
        assert emulator.holds(child)
        assert "OrderAccepted" not in bare.kinds(child)
    assert set(bare.venue._by_id) == {parent.client_order_id}
    bare.bar(100, 101, 99, 100.5)  # the entry does not fill
    assert emulator.holds(sl)
    assert emulator.holds(tp)


def test_children_are_sent_when_the_entry_fills(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    parent, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(*FLAT)
    assert parent.status is OrderStatus.FILLED
    for child in (sl, tp):
        assert not emulator.holds(child)
        assert child.status is OrderStatus.ACCEPTED
    assert set(bare.venue._by_id) == {sl.client_order_id, tp.client_order_id}


def test_released_children_start_matching_on_the_next_bar(bare: Harness) -> None:
    parent, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(100, 101, 94, 96)  # a native bracket would stop out in this bar
    assert parent.status is OrderStatus.FILLED
    assert sl.status is OrderStatus.ACCEPTED
    bare.bar(96, 96.5, 94, 94.5)
    assert sl.avg_px == Decimal("95")
    assert tp.status is OrderStatus.CANCELED


def test_emulator_cancels_the_target_when_the_stop_fills(bare: Harness) -> None:
    _, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(*FLAT)
    bare.bar(99, 99.5, 93, 94)
    assert sl.status is OrderStatus.FILLED
    assert tp.status is OrderStatus.CANCELED
    # cancelled through the execution engine, as a strategy's cancel would be
    assert bare.kinds(tp)[-2:] == ["OrderPendingCancel", "OrderCanceled"]
    assert bare.position() == 0
    assert not bare.venue.has_orders(bare.symbol)


def test_subscribers_see_the_fill_before_the_cancel_it_causes(bare: Harness) -> None:
    _, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(*FLAT)
    bare.bar(99, 99.5, 93, 94)
    order = [(e.kind, e.client_order_id) for e in bare.events]
    fill = order.index(("OrderFilled", sl.client_order_id))
    cancel = order.index(("OrderPendingCancel", tp.client_order_id))
    assert fill < cancel


def test_emulator_cancels_the_stop_when_the_target_fills(bare: Harness) -> None:
    _, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(*FLAT)
    bare.bar(105, 112, 104, 111)
    assert tp.avg_px == Decimal("110")
    assert sl.status is OrderStatus.CANCELED
    assert bare.position() == 0


def test_both_exits_in_one_bar_fill_only_one(bare: Harness) -> None:
    _, sl, tp = bare.bracket(BUY, 10, 95, 110)
    bare.bar(*FLAT)
    bare.bar(100.5, 111, 94, 96)  # the venue's conflict policy still decides: stop first
    assert sl.status is OrderStatus.FILLED
    assert tp.status is OrderStatus.CANCELED
    assert tp.filled_qty == 0
    assert bare.position() == 0


def test_cancelling_the_entry_cancels_the_held_children(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    parent, sl, tp = bare.bracket(BUY, 10, 95, 110, entry=90)
    bare.cancel(parent)
    assert parent.status is OrderStatus.CANCELED
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    assert parent.client_order_id in sl.reason
    assert not emulator.holds(sl)
    assert not emulator.holds(tp)
    bare.bar(89, 112, 80, 100)
    assert bare.fills() == []


def test_rejected_entry_cancels_the_held_children() -> None:
    from venue_harness import Harness as H

    from tradeloop.execution.ports import VenueCapabilities

    caps = VenueCapabilities(order_types=frozenset({OrderType.MARKET, OrderType.STOP}),
                             oco=False, oto=False)
    h = H(capabilities=caps)
    parent, sl, tp = h.bracket(BUY, 10, 95, 110, entry=98)  # the venue takes no limits
    assert parent.status is OrderStatus.REJECTED
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    assert sl.reason == f"parent {parent.client_order_id} rejected"
    assert not h.kernel.execution.emulator.holds(sl)
    assert not h.kernel.execution.emulator.holds(tp)
    assert h.kernel.cache.open_orders() == []


def test_cancelling_a_held_child_cancels_its_sibling(bare: Harness) -> None:
    parent, sl, tp = bare.bracket(BUY, 10, 95, 110, entry=90)
    bare.cancel(sl)
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    assert parent.status is OrderStatus.ACCEPTED
    assert bare.kinds(sl)[-1] == "OrderCanceled"


def test_modifying_a_held_child(bare: Harness) -> None:
    _, sl, _ = bare.bracket(BUY, 10, 95, 110)
    bare.kernel.bus.send("RiskEngine.execute", cmd.ModifyOrder(
        sl.client_order_id, bare.clock.now_ns(), trigger_price=Decimal("97")))
    assert sl.trigger_price == Decimal("97")
    assert bare.kinds(sl)[-1] == "OrderUpdated"
    bare.bar(*FLAT)
    bare.bar(99, 99.5, 96, 96.5)
    assert sl.avg_px == Decimal("97")


# -- trailing stops --------------------------------------------------------------------------


def test_trailing_stop_is_held_and_follows_prices(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    go_long(bare)
    order = bare.send(SELL, 10, trail=2)
    assert emulator.holds(order)
    assert emulator.watching
    assert order.status is OrderStatus.SUBMITTED
    for price in (100.0, 103.0, 101.5, 101.0):  # best 103, so the stop is 101
        emulator.on_price(bare.symbol, price)
    assert "OrderTriggered" in bare.kinds(order)  # 101 reached it: released
    assert order.status is OrderStatus.ACCEPTED
    assert order.order_type is OrderType.MARKET
    assert not emulator.holds(order)
    assert not emulator.watching


def test_released_trailing_stop_fills_as_a_market_order(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    go_long(bare)
    order = bare.send(SELL, 10, trail=2)
    for price in (100.0, 103.0, 102.0, 101.5):
        emulator.on_price(bare.symbol, price)
    assert order.order_type is OrderType.TRAILING_STOP
    emulator.on_price(bare.symbol, 100.9)
    assert order.order_type is OrderType.MARKET
    assert bare.kinds(order)[-2:] == ["OrderTriggered", "OrderAccepted"]
    bare.bar(100.8, 101, 100, 100.5)
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("100.8")
    assert bare.position() == 0


def test_buy_trailing_stop_by_percent(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    order = bare.send(BUY, 10, trail_percent=1)
    for price in (100.0, 97.0, 95.0, 95.9):  # best 95, stop 95.95
        emulator.on_price(bare.symbol, price)
    assert emulator.holds(order)
    emulator.on_price(bare.symbol, 96.0)
    assert order.status is OrderStatus.ACCEPTED
    assert order.order_type is OrderType.MARKET


def test_prices_of_other_symbols_do_not_move_a_trailing_stop(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    go_long(bare)
    order = bare.send(SELL, 10, trail=2)
    emulator.on_price(bare.symbol, 100.0)
    emulator.on_price("XYZ", 50.0)
    assert emulator.holds(order)


def test_trailing_child_waits_for_its_parent(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    parent = bare.order(BUY, 10, price=98)
    trail = bare.order(SELL, 10, trail=2, reduce_only=True)
    parent.contingency, parent.linked_ids = ContingencyType.OTO, (trail.client_order_id,)
    trail.parent_id = parent.client_order_id
    bare.submit_list(parent, trail)
    for price in (100.0, 90.0):
        emulator.on_price(bare.symbol, price)
    assert emulator.holds(trail)
    bare.bar(98, 99, 97, 98.5)
    assert parent.status is OrderStatus.FILLED
    assert emulator.holds(trail)  # still emulated, now trailing
    for price in (98.5, 104.0, 102.5):
        emulator.on_price(bare.symbol, price)
    assert emulator.holds(trail)
    emulator.on_price(bare.symbol, 101.9)
    assert not emulator.holds(trail)
    bare.bar(101.9, 102, 101, 101.5)
    assert trail.avg_px == Decimal("101.9")
    assert bare.position() == 0


def test_cancelling_a_held_trailing_stop(bare: Harness) -> None:
    emulator = bare.kernel.execution.emulator
    go_long(bare)
    order = bare.send(SELL, 10, trail=2)
    bare.cancel(order)
    assert order.status is OrderStatus.CANCELED
    assert not emulator.watching
    emulator.on_price(bare.symbol, 50.0)
    assert bare.fills(order) == []


# -- a venue that does it natively never sees the emulator ------------------------------------


def test_native_venue_gets_every_order_at_once(h: Harness) -> None:
    emulator = h.kernel.execution.emulator
    parent, sl, tp = h.bracket(BUY, 10, 95, 110, entry=98)
    trail = h.send(SELL, 1, trail=2)
    for order in (parent, sl, tp, trail):
        assert not emulator.holds(order)
        assert order.status is OrderStatus.ACCEPTED
    assert not emulator.watching
