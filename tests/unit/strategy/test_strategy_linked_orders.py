"""OCO and OTO groups from prepared orders, and closing hedged positions one by one."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from strategy_harness import Scripted, bars, flat_bars, run

from tradeloop.model.enums import ContingencyType, OmsType, OrderSide, OrderStatus


def straddle(s: Scripted):
    up = s.prepare("buy", 10, stop=105)
    down = s.prepare("sell", 10, stop=95)
    return s.oco(up, down)


def test_oco_breakout_straddle_fills_one_side_and_cancels_the_other() -> None:
    s = Scripted({0: straddle})
    run(s, bars((100, 101, 99, 100), (100, 106, 99.5, 105.5), (105, 106, 104, 105)))
    up, down = s.results[0]
    assert up.contingency is ContingencyType.OCO and up.linked_ids == (down.client_order_id,)
    assert up.status is OrderStatus.FILLED and up.avg_px == D(105)
    assert down.status is OrderStatus.CANCELED
    assert "OCO" in down.reason
    assert s.position().quantity == 10


def test_oto_child_starts_working_when_the_parent_fills() -> None:
    def entry_with_target(s: Scripted):
        parent = s.prepare(OrderSide.BUY, 5, limit=99)
        target = s.prepare(OrderSide.SELL, 5, limit=103, reduce_only=True)
        return s.oto(parent, target)

    s = Scripted({0: entry_with_target})
    run(s, bars((100, 101, 99.5, 100.5),   # the limit at 99 is not reached
                (100, 100.5, 98.5, 99),     # parent fills at 99
                (99, 103.5, 98.8, 103)))    # target fills at 103
    parent, target = s.results[0]
    assert target.parent_id == parent.client_order_id
    assert parent.avg_px == D(99) and target.avg_px == D(103)
    assert s.position().is_flat


@pytest.mark.parametrize("method", ["oco", "oto"])
def test_linked_groups_refuse_sent_or_single_orders(method: str) -> None:
    def misuse(s: Scripted):
        sent = s.buy(1, limit=90)
        with pytest.raises(ValueError, match="at least 2 orders"):
            getattr(s, method)(s.prepare("sell", 1, limit=110))
        with pytest.raises(ValueError, match="were not sent or linked"):
            getattr(s, method)(sent, s.prepare("sell", 1, limit=110))
        return True

    s = Scripted({0: misuse})
    run(s, flat_bars(100, 100))
    assert s.results[0] is True


def test_close_flattens_every_hedged_position_of_the_symbol() -> None:
    s = Scripted({0: lambda st: (st.buy(3), st.buy(4)), 2: lambda st: st.close()})
    run(s, flat_bars(100, 101, 102, 103, 104), oms=OmsType.HEDGING)
    positions = [p for p in s.context.cache.positions_for("ABC")]
    assert len(positions) == 2
    assert all(p.is_flat for p in positions)
    closes = [o for o in s.context.cache.orders.values() if o.tags == ("close",)]
    assert sorted(o.quantity for o in closes) == [D(3), D(4)]
    assert {o.position_id for o in closes} == {p.position_id for p in positions}
