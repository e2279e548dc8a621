"""Native contingent orders at the simulated venue: brackets (OTO + OCO) and OCO pairs.

The bracket is a buy of 10 with a stop-loss at 95 and a take-profit at 110 unless a test says
otherwise. A market entry fills at the first bar's open (100).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from venue_harness import BUY, SELL, Harness

from tradeloop.brokers.simulated.venue import ConflictPolicy, SimulatedVenueConfig
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import ContingencyType, OrderStatus, OrderType

FLAT = (100.0, 101.0, 99.0, 100.5)
BOTH_UP = (100.5, 111.0, 94.0, 105.0)  # 100.5 -> 94 (stop first) -> 111 -> 105
BOTH_DOWN = (100.5, 111.0, 94.0, 96.0)  # 100.5 -> 111 (target first) -> 94 -> 96


def entered(policy: ConflictPolicy = "stop_first", **config: object) -> tuple[Harness, ...]:
    h = Harness(SimulatedVenueConfig(conflict=policy, **config))  # type: ignore[arg-type]
    parent, sl, tp = h.bracket(BUY, 10, 95, 110)
    h.bar(*FLAT)
    assert parent.status is OrderStatus.FILLED
    assert parent.avg_px == Decimal("100")
    return h, parent, sl, tp


def test_bracket_children_wait_for_the_entry(h: Harness) -> None:
    parent, sl, tp = h.bracket(BUY, 10, 95, 110, entry=90)
    assert [o.status for o in (parent, sl, tp)] == [OrderStatus.ACCEPTED] * 3
    h.bar(100.5, 111, 94, 105)  # reaches both exits but not the entry
    assert h.fills() == []
    assert h.position() == 0


def test_bracket_entry_fills_and_exits_keep_working() -> None:
    h, _, sl, tp = entered()
    assert h.position() == 10
    h.bar(*FLAT)
    assert sl.status is OrderStatus.ACCEPTED
    assert tp.status is OrderStatus.ACCEPTED


def test_take_profit_alone_fills_and_cancels_the_stop() -> None:
    h, _, sl, tp = entered()
    h.bar(105, 112, 104, 111)
    assert h.fill_prices(tp) == [Decimal("110")]
    assert sl.status is OrderStatus.CANCELED
    assert "OCO" in sl.reason
    assert h.position() == 0
    assert not h.venue.has_orders(h.symbol)


def test_stop_loss_alone_fills_and_cancels_the_target() -> None:
    h, _, sl, tp = entered()
    h.bar(99, 99.5, 93, 94)
    assert h.fill_prices(sl) == [Decimal("95")]
    assert tp.status is OrderStatus.CANCELED
    assert h.position() == 0


@pytest.mark.parametrize(
    ("bar", "policy", "winner"),
    [
        (BOTH_UP, "stop_first", "sl"),
        (BOTH_UP, "target_first", "tp"),
        (BOTH_UP, "path", "sl"),
        (BOTH_DOWN, "stop_first", "sl"),
        (BOTH_DOWN, "target_first", "tp"),
        (BOTH_DOWN, "path", "tp"),
    ],
    ids=["up-stop_first", "up-target_first", "up-path", "down-stop_first",
         "down-target_first", "down-path"],
)
def test_both_exits_inside_one_bar_follow_the_conflict_policy(
    bar: tuple[float, ...], policy: ConflictPolicy, winner: str
) -> None:
    h, _, sl, tp = entered(policy)
    h.bar(*bar)
    won, lost = (sl, tp) if winner == "sl" else (tp, sl)
    assert won.status is OrderStatus.FILLED
    assert won.avg_px == (Decimal("95") if won is sl else Decimal("110"))
    assert lost.status is OrderStatus.CANCELED
    assert lost.reason == f"OCO: {won.client_order_id} filled"
    assert lost.filled_qty == 0
    assert h.position() == 0


def test_default_policy_is_stop_first() -> None:
    assert SimulatedVenueConfig().conflict == "stop_first"


def test_stop_gapped_at_the_open_wins_even_with_target_first() -> None:
    h, _, sl, tp = entered("target_first")
    h.bar(94, 111, 93, 105)  # opens below the stop, later reaches the target
    assert h.fill_prices(sl) == [Decimal("94")]
    assert tp.status is OrderStatus.CANCELED


def test_target_gapped_at_the_open_wins_even_with_stop_first() -> None:
    h, _, sl, tp = entered("stop_first")
    h.bar(112, 113, 94, 96)  # opens above the target, later falls through the stop
    assert h.fill_prices(tp) == [Decimal("112")]
    assert sl.status is OrderStatus.CANCELED


def test_entry_and_stop_in_the_same_bar(h: Harness) -> None:
    parent, sl, tp = h.bracket(BUY, 10, 95, 110)
    h.bar(100, 103, 94, 102)  # enters at the open, falls to 94, recovers
    assert h.fill_prices(parent) == [Decimal("100")]
    assert h.fill_prices(sl) == [Decimal("95")]
    assert tp.status is OrderStatus.CANCELED
    assert h.position() == 0
    assert [f.client_order_id for f in h.fills()] == [parent.client_order_id, sl.client_order_id]


def test_entry_and_both_exits_in_the_same_bar_use_the_policy() -> None:
    h = Harness(SimulatedVenueConfig(conflict="target_first"))
    parent, sl, tp = h.bracket(BUY, 10, 95, 110)
    h.bar(100, 111, 94, 105)
    assert parent.status is OrderStatus.FILLED
    assert h.fill_prices(tp) == [Decimal("110")]
    assert sl.status is OrderStatus.CANCELED


def test_limit_entry_exits_start_where_the_entry_filled(h: Harness) -> None:
    parent, sl, tp = h.bracket(BUY, 10, 95, 105, entry=98)
    h.bar(100, 106, 97, 104)  # 100 -> 97 (entry at 98) -> 106 (target) -> 104
    assert h.fill_prices(parent) == [Decimal("98")]
    assert h.fill_prices(tp) == [Decimal("105")]
    assert sl.status is OrderStatus.CANCELED


def test_exit_touched_before_the_entry_in_the_bar_does_not_fill(h: Harness) -> None:
    parent, _, tp = h.bracket(BUY, 10, 90, 104, entry=96)
    h.bar(100, 105, 95, 97)  # down: 100 -> 105 (target level, entry not yet in) -> 95 -> 97
    assert h.fill_prices(parent) == [Decimal("96")]
    assert tp.status is OrderStatus.ACCEPTED
    assert h.position() == 10


def test_short_bracket() -> None:
    h = Harness()
    _, sl, tp = h.bracket(SELL, 10, 105, 90)
    h.bar(*FLAT)
    h.bar(101, 106, 100, 104)
    assert h.fill_prices(sl) == [Decimal("105")]
    assert tp.status is OrderStatus.CANCELED
    assert h.position() == 0


def test_partial_fill_of_one_exit_reduces_the_other() -> None:
    h, _, sl, tp = entered(volume_limit=0.5)
    h.bar(105, 111, 104, 110.5, volume=8)  # room for 4: the target fills 4 of 10
    assert tp.status is OrderStatus.PARTIALLY_FILLED
    assert tp.filled_qty == 4
    assert sl.quantity == 6
    assert sl.status is OrderStatus.ACCEPTED
    assert h.kinds(sl)[-1] == "OrderUpdated"
    assert h.position() == 6
    h.bar(111, 112, 110.5, 111.5, volume=100)
    assert tp.status is OrderStatus.FILLED
    assert tp.avg_px == (4 * Decimal("110") + 6 * Decimal("111")) / 10
    assert sl.status is OrderStatus.CANCELED
    assert h.position() == 0


def test_cancelling_the_entry_before_it_fills_cancels_the_children(h: Harness) -> None:
    parent, sl, tp = h.bracket(BUY, 10, 95, 110, entry=90)
    h.bar(*FLAT)
    h.cancel(parent)
    assert parent.status is OrderStatus.CANCELED
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    assert parent.client_order_id in sl.reason
    assert not h.venue.has_orders(h.symbol)
    h.bar(89, 112, 80, 100)
    assert h.fills() == []


def test_cancelling_a_partly_filled_entry_shrinks_the_exits_to_the_fill() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.5))
    parent, sl, tp = h.bracket(BUY, 10, 95, 110)
    h.bar(*FLAT, volume=8)
    assert parent.filled_qty == 4
    h.cancel(parent)
    assert parent.status is OrderStatus.CANCELED
    assert (sl.status, sl.quantity) == (OrderStatus.ACCEPTED, 4)
    assert (tp.status, tp.quantity) == (OrderStatus.ACCEPTED, 4)
    h.bar(99, 99.5, 93, 94, volume=100)
    assert sl.status is OrderStatus.FILLED
    assert sl.filled_qty == 4
    assert tp.status is OrderStatus.CANCELED
    assert h.position() == 0
    assert not h.venue.has_orders(h.symbol)


def test_exits_of_a_cancelled_entry_leave_a_later_position_alone() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.5))
    parent, sl, tp = h.bracket(BUY, 10, 95, 110, entry=100)
    h.bar(*FLAT, volume=8)  # the entry gets 4
    h.bar(101, 112, 100.5, 111, volume=8)  # the target sells those 4 back
    assert (parent.filled_qty, tp.filled_qty, sl.quantity) == (4, 4, 6)
    assert h.position() == 0
    h.cancel(parent)
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    h.send(BUY, 10)
    h.bar(*FLAT, volume=100)
    h.bar(99, 112, 93, 94, volume=100)
    assert h.position() == 10


def test_children_of_a_rejected_entry_are_cancelled() -> None:
    caps = VenueCapabilities(order_types=frozenset({OrderType.MARKET, OrderType.STOP}))
    h = Harness(capabilities=caps)
    parent, sl, tp = h.bracket(BUY, 10, 95, 105, entry=98)  # the venue takes no limits
    assert parent.status is OrderStatus.REJECTED
    assert sl.status is OrderStatus.CANCELED
    assert sl.reason == f"parent {parent.client_order_id} rejected"
    assert tp.status is OrderStatus.REJECTED  # a limit itself
    assert not h.venue.has_orders(h.symbol)
    assert h.kernel.cache.open_orders() == []


def test_cancelling_one_exit_cancels_its_sibling() -> None:
    h, _, sl, tp = entered()
    h.cancel(tp)
    assert tp.status is OrderStatus.CANCELED
    assert sl.status is OrderStatus.CANCELED
    assert h.position() == 10


def test_plain_oco_pair_without_a_parent(h: Harness) -> None:
    h.send(BUY, 10)
    h.bar(*FLAT)
    stop = h.order(SELL, 10, trigger=95)
    target = h.order(SELL, 10, price=110)
    stop.contingency, stop.linked_ids = ContingencyType.OCO, (target.client_order_id,)
    target.contingency, target.linked_ids = ContingencyType.OCO, (stop.client_order_id,)
    h.submit_list(stop, target)
    h.bar(*BOTH_DOWN)  # both reached: stop first by default
    assert stop.status is OrderStatus.FILLED
    assert target.status is OrderStatus.CANCELED
    assert h.position() == 0


def test_bracket_child_trailing_stop_starts_at_the_entry_price(h: Harness) -> None:
    parent = h.order(BUY, 10)
    trail = h.order(SELL, 10, trail=3, reduce_only=True)
    parent.contingency, parent.linked_ids = ContingencyType.OTO, (trail.client_order_id,)
    trail.parent_id = parent.client_order_id
    h.submit_list(parent, trail)
    h.bar(100, 104, 99.5, 103)  # up: 100 -> 99.5 -> 104 (stop 101) -> 103
    assert trail.status is OrderStatus.ACCEPTED
    h.bar(102, 102.5, 100, 100.5)
    assert h.fill_prices(trail) == [Decimal("101")]
