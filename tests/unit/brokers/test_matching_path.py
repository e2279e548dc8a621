"""The intrabar path of the simulated venue and first touches of a price level on it.

A bar closing at or above its open is assumed to go open -> low -> high -> close, any other bar
open -> high -> low -> close. Orders reached at the open fill there (a gap); others fill at their
own price where the path first reaches it.
"""

from __future__ import annotations

from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from venue_harness import BUY, SELL, Harness

from tradeloop.brokers.simulated import matching
from tradeloop.model.enums import OrderStatus

UP = (100.0, 110.0, 95.0, 105.0)  # path 100 -> 95 -> 110 -> 105
DOWN = (100.0, 110.0, 95.0, 96.0)  # path 100 -> 110 -> 95 -> 96


# -- the path and touches, as pure functions -------------------------------------------------


def test_bar_path_up_bar_visits_low_first() -> None:
    assert matching.bar_path(*UP) == (100.0, 95.0, 110.0, 105.0)


def test_bar_path_down_bar_visits_high_first() -> None:
    assert matching.bar_path(*DOWN) == (100.0, 110.0, 95.0, 96.0)


def test_bar_path_doji_counts_as_up_bar() -> None:
    assert matching.bar_path(100.0, 101.0, 99.0, 100.0) == (100.0, 99.0, 101.0, 100.0)


@pytest.mark.parametrize(
    ("t", "price"),
    [(0.0, 100.0), (0.5, 97.5), (1.0, 95.0), (1.5, 102.5), (2.0, 110.0), (3.0, 105.0)],
)
def test_price_at_interpolates_along_the_path(t: float, price: float) -> None:
    assert matching.price_at(matching.bar_path(*UP), t) == pytest.approx(price)


def test_price_at_on_a_one_point_path() -> None:
    assert matching.price_at((42.0,), 0.0) == 42.0


def test_first_at_or_above_inside_the_bar_fills_at_the_level() -> None:
    path = matching.bar_path(*UP)
    t, price = matching.first_at_or_above(path, 108.0) or (None, None)
    assert price == 108.0
    assert t == pytest.approx(1 + 13 / 15)


def test_first_at_or_above_at_the_open_is_a_gap_at_the_open() -> None:
    assert matching.first_at_or_above(matching.bar_path(*UP), 99.0) == (0.0, 100.0)


def test_first_at_or_below_inside_the_bar_fills_at_the_level() -> None:
    touch = matching.first_at_or_below(matching.bar_path(*UP), 97.0)
    assert touch is not None
    assert touch[1] == 97.0
    assert touch[0] == pytest.approx(0.6)


def test_levels_outside_the_bar_are_never_touched() -> None:
    path = matching.bar_path(*UP)
    assert matching.first_at_or_above(path, 110.01) is None
    assert matching.first_at_or_below(path, 94.99) is None


def test_first_touch_after_a_start_ignores_the_path_before_it() -> None:
    path = matching.bar_path(*UP)  # 97 is passed at t=0.6 on the way down, again at t=1.13
    touch = matching.first_at_or_above(path, 97.0, start=1.0)
    assert touch is not None
    assert touch[0] == pytest.approx(1 + 2 / 15)
    assert touch[1] == 97.0
    assert matching.first_at_or_below(path, 97.0, start=2.5) is None


def test_trailing_walk_ratchets_and_fills_at_the_retraced_stop() -> None:
    path = (100.0, 99.0, 110.0, 106.0)  # stop 97 -> 107 at the high -> hit on the way to 106
    touch, ref = matching.trailing_walk(path, 0.0, 100.0, 3.0, False, True)
    assert touch is not None
    assert touch[1] == pytest.approx(107.0)
    assert 2.0 < touch[0] < 3.0
    assert ref == 110.0


def test_trailing_walk_without_a_fill_returns_the_best_price() -> None:
    touch, ref = matching.trailing_walk((100.0, 99.0, 104.0, 103.0), 0.0, 100.0, 3.0, False, True)
    assert touch is None
    assert ref == 104.0


def test_trailing_walk_counts_a_favourable_open_as_the_new_extreme() -> None:
    # The best price before the bar was 104; the bar opens at 110, dips to 106, so a 3-point
    # trailing sell stop (now at 107) is hit on the way down.
    touch, _ = matching.trailing_walk((110.0, 106.0, 111.0, 110.5), 0.0, 104.0, 3.0, False, True)
    assert touch is not None
    assert touch[1] == pytest.approx(107.0)


bars = st.tuples(
    st.floats(50, 150), st.floats(50, 150), st.floats(0, 20), st.floats(0, 20)
).map(lambda x: (x[0], max(x[0], x[1]) + x[2], min(x[0], x[1]) - x[3], x[1]))


@settings(max_examples=200, deadline=None)
@given(bar=bars, level=st.floats(30, 170))
def test_touches_lie_inside_the_bar_and_never_beat_the_level(
    bar: tuple[float, float, float, float], level: float
) -> None:
    open_, high, low, _ = bar
    path = matching.bar_path(*bar)
    above = matching.first_at_or_above(path, level)
    assert (above is not None) == (high >= level)
    if above is not None:
        t, price = above
        assert 0.0 <= t <= 3.0
        assert price >= level or price == pytest.approx(level)
        assert low <= price <= high
        assert price == (open_ if open_ >= level else level)
    below = matching.first_at_or_below(path, level)
    assert (below is not None) == (low <= level)
    if below is not None:
        assert below[1] == (open_ if open_ <= level else level)


# -- the path decides which order fills first ---------------------------------------------------


def test_up_bar_fills_a_buy_limit_below_before_a_buy_stop_above(h: Harness) -> None:
    stop = h.send(BUY, 1, trigger=108)
    limit = h.send(BUY, 1, price=97)
    h.bar(*UP)
    fills = h.fills()
    assert [f.client_order_id for f in fills] == [limit.client_order_id, stop.client_order_id]
    assert [f.last_px for f in fills] == [Decimal("97"), Decimal("108")]


def test_down_bar_fills_a_buy_stop_above_before_a_buy_limit_below(h: Harness) -> None:
    limit = h.send(BUY, 1, price=97)
    stop = h.send(BUY, 1, trigger=108)
    h.bar(*DOWN)
    fills = h.fills()
    assert [f.client_order_id for f in fills] == [stop.client_order_id, limit.client_order_id]
    assert [f.last_px for f in fills] == [Decimal("108"), Decimal("97")]


def test_up_bar_fills_a_sell_stop_below_before_a_sell_limit_above(h: Harness) -> None:
    h.send(BUY, 2)
    h.bar(100, 100, 100, 100)
    limit = h.send(SELL, 1, price=108)
    stop = h.send(SELL, 1, trigger=97)
    h.bar(*UP)
    assert [f.client_order_id for f in h.fills()[1:]] == [
        stop.client_order_id, limit.client_order_id,
    ]


def test_orders_touched_at_the_same_point_fill_in_submission_order(h: Harness) -> None:
    first = h.send(BUY, 1, price=97)
    second = h.send(BUY, 1, price=97)
    market = h.send(BUY, 1)
    h.bar(*UP)
    assert [f.client_order_id for f in h.fills()] == [
        market.client_order_id, first.client_order_id, second.client_order_id,
    ]


def test_fills_are_stamped_with_the_bar_time(h: Harness) -> None:
    h.send(BUY, 1, price=97)
    ts = h.bar(*UP)
    assert [f.ts for f in h.fills()] == [ts]


def test_each_order_fills_at_most_once_per_bar(h: Harness) -> None:
    limit = h.send(BUY, 1, price=97)
    h.bar(*UP)
    h.bar(*UP)
    assert len(h.fills(limit)) == 1
    assert limit.status is OrderStatus.FILLED
