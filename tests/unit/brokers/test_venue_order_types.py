"""Each order type against up and down bars, gaps included; modify and cancel at the venue.

Up bar ``UP``: 100 -> 95 -> 110 -> 105. Down bar ``DOWN``: 100 -> 110 -> 95 -> 96.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from venue_harness import BUY, SELL, Harness

from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model import commands as cmd
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType

UP = (100.0, 110.0, 95.0, 105.0)
DOWN = (100.0, 110.0, 95.0, 96.0)
BARS = pytest.mark.parametrize("bar", [UP, DOWN], ids=["up", "down"])


def go_long(h: Harness, qty: int = 100) -> None:
    """Open a long position on a flat bar so that sells do not go short."""
    h.send(BUY, qty)
    h.bar(100, 100, 100, 100)


# -- market ----------------------------------------------------------------------------------


@BARS
@pytest.mark.parametrize("side", [BUY, SELL])
def test_market_order_fills_at_the_open(
    h: Harness, bar: tuple[float, ...], side: OrderSide
) -> None:
    order = h.send(side, 10)
    h.bar(*bar)
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("100")
    assert order.filled_qty == 10
    assert h.position() == 10 * side.sign


def test_market_order_sent_after_a_bar_waits_for_the_next_open(h: Harness) -> None:
    h.bar(*UP)
    order = h.send(BUY, 1)
    assert order.status is OrderStatus.ACCEPTED
    h.bar(103, 104, 102, 103.5)
    assert order.avg_px == Decimal("103")


# -- limit -----------------------------------------------------------------------------------


@BARS
def test_buy_limit_touched_inside_the_bar_fills_at_the_limit(
    h: Harness, bar: tuple[float, ...]
) -> None:
    order = h.send(BUY, 5, price=97)
    h.bar(*bar)
    assert order.status is OrderStatus.FILLED
    assert h.fill_prices(order) == [Decimal("97")]


@BARS
def test_sell_limit_touched_inside_the_bar_fills_at_the_limit(
    h: Harness, bar: tuple[float, ...]
) -> None:
    order = h.send(SELL, 5, price=108)
    h.bar(*bar)
    assert h.fill_prices(order) == [Decimal("108")]
    assert h.position() == -5


@BARS
def test_limits_beyond_the_bar_keep_working(h: Harness, bar: tuple[float, ...]) -> None:
    buy = h.send(BUY, 1, price=94.99)
    sell = h.send(SELL, 1, price=110.01)
    h.bar(*bar)
    assert buy.status is OrderStatus.ACCEPTED
    assert sell.status is OrderStatus.ACCEPTED
    assert h.fills() == []
    assert h.venue.has_orders(h.symbol)


def test_buy_limit_after_a_gap_down_fills_at_the_better_open(h: Harness) -> None:
    order = h.send(BUY, 1, price=97)
    h.bar(94, 96, 93, 95)
    assert h.fill_prices(order) == [Decimal("94")]


def test_sell_limit_after_a_gap_up_fills_at_the_better_open(h: Harness) -> None:
    order = h.send(SELL, 1, price=103)
    h.bar(106, 107, 104, 104.5)
    assert h.fill_prices(order) == [Decimal("106")]


def test_marketable_limit_fills_at_the_open(h: Harness) -> None:
    buy = h.send(BUY, 1, price=102)
    sell = h.send(SELL, 1, price=98)
    h.bar(*UP)
    assert h.fill_prices(buy) == [Decimal("100")]
    assert h.fill_prices(sell) == [Decimal("100")]


def test_limit_waits_for_a_later_bar(h: Harness) -> None:
    order = h.send(BUY, 1, price=90)
    h.bar(*UP)
    h.bar(*DOWN)
    assert order.status is OrderStatus.ACCEPTED
    h.bar(92, 93, 89, 91)
    assert h.fill_prices(order) == [Decimal("90")]


# -- stop ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bar", "trigger"), [(UP, 108), (DOWN, 103)], ids=["up", "down"])
def test_buy_stop_triggered_inside_the_bar_fills_at_the_stop(
    h: Harness, bar: tuple[float, ...], trigger: float
) -> None:
    order = h.send(BUY, 1, trigger=trigger)
    h.bar(*bar)
    assert h.fill_prices(order) == [Decimal(str(trigger))]


@BARS
def test_sell_stop_triggered_inside_the_bar_fills_at_the_stop(
    h: Harness, bar: tuple[float, ...]
) -> None:
    go_long(h)
    order = h.send(SELL, 1, trigger=97)
    h.bar(*bar)
    assert h.fill_prices(order) == [Decimal("97")]


def test_buy_stop_gapped_through_fills_at_the_worse_open(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=103)
    h.bar(104, 106, 103.5, 105)
    assert h.fill_prices(order) == [Decimal("104")]


def test_sell_stop_gapped_through_fills_at_the_worse_open(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 1, trigger=97)
    h.bar(96, 98, 95, 97.5)
    assert h.fill_prices(order) == [Decimal("96")]


def test_stop_not_reached_keeps_working(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=111)
    h.bar(*UP)
    assert order.status is OrderStatus.ACCEPTED


# -- stop-limit ------------------------------------------------------------------------------


def test_buy_stop_limit_triggered_and_filled_in_one_bar(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=108, price=109)
    h.bar(*UP)
    assert order.status is OrderStatus.FILLED
    assert h.fill_prices(order) == [Decimal("108")]
    assert h.kinds(order) == ["OrderSubmitted", "OrderAccepted", "OrderTriggered", "OrderFilled"]


def test_sell_stop_limit_triggered_and_filled_in_one_bar(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 1, trigger=97, price=96)
    h.bar(*DOWN)
    assert h.fill_prices(order) == [Decimal("97")]
    assert "OrderTriggered" in h.kinds(order)


def test_buy_stop_limit_triggered_but_not_filled_works_as_a_limit(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=104, price=102)
    h.bar(*UP)  # 104 is crossed on the way up from 95 to 110; 102 is never seen again
    assert order.status is OrderStatus.TRIGGERED
    assert h.kinds(order).count("OrderTriggered") == 1
    assert h.fills(order) == []
    h.bar(105, 106, 101, 101.5)
    assert order.status is OrderStatus.FILLED
    assert h.fill_prices(order) == [Decimal("102")]
    assert h.kinds(order).count("OrderTriggered") == 1


def test_sell_stop_limit_gapped_through_with_limit_out_of_reach(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 1, trigger=97, price=98)
    h.bar(96, 97.5, 94, 95)
    assert order.status is OrderStatus.TRIGGERED
    h.bar(99, 100, 98.5, 99.5)  # opens above the limit: fills at the better open
    assert h.fill_prices(order) == [Decimal("99")]


def test_stop_limit_not_triggered_stays_accepted(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=111, price=112)
    h.bar(*UP)
    assert order.status is OrderStatus.ACCEPTED
    assert "OrderTriggered" not in h.kinds(order)


def test_triggered_stop_limit_does_not_fill_before_its_trigger(h: Harness) -> None:
    # Another order filling in the bar makes the venue look at the book again; the stop-limit,
    # triggered at 105 on the way up, must not then fill at the 100 open it never saw.
    order = h.send(BUY, 1, trigger=105, price=104)
    other = h.send(BUY, 1, price=99.5)
    h.bar(100, 106, 99, 105.5)
    assert other.status is OrderStatus.FILLED
    assert order.status is OrderStatus.TRIGGERED
    assert h.fills(order) == []


# -- market-if-touched -----------------------------------------------------------------------


@BARS
def test_buy_mit_fills_at_its_trigger_below_the_market(h: Harness, bar: tuple[float, ...]) -> None:
    order = h.send(BUY, 1, order_type=OrderType.MARKET_IF_TOUCHED, trigger=97)
    h.bar(*bar)
    assert h.fill_prices(order) == [Decimal("97")]


@BARS
def test_sell_mit_fills_at_its_trigger_above_the_market(
    h: Harness, bar: tuple[float, ...]
) -> None:
    order = h.send(SELL, 1, order_type=OrderType.MARKET_IF_TOUCHED, trigger=108)
    h.bar(*bar)
    assert h.fill_prices(order) == [Decimal("108")]


def test_mit_after_a_gap_fills_at_the_open(h: Harness) -> None:
    order = h.send(BUY, 1, order_type=OrderType.MARKET_IF_TOUCHED, trigger=97)
    h.bar(94, 96, 93, 95)
    assert h.fill_prices(order) == [Decimal("94")]


def test_mit_is_not_a_stop(h: Harness) -> None:
    # A buy MIT above the market fills at once (it is "touched" from below), unlike a stop.
    order = h.send(BUY, 1, order_type=OrderType.MARKET_IF_TOUCHED, trigger=108)
    h.bar(*UP)
    assert h.fill_prices(order) == [Decimal("100")]


# -- trailing stop ---------------------------------------------------------------------------


def test_sell_trailing_stop_by_price_follows_the_high(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail=3)
    h.bar(100, 110, 99, 106)  # up: 100 -> 99 -> 110 (stop 107) -> 106
    assert h.fill_prices(order) == [Decimal("107")]


def test_trailing_stop_ratchets_across_bars(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail=3)
    h.bar(100, 104, 99, 103)  # best 104, stop 101; never retraced 3
    assert order.status is OrderStatus.ACCEPTED
    h.bar(103, 106, 100, 101)  # down: 103 -> 106 (stop 103) -> 100
    assert h.fill_prices(order) == [Decimal("103")]


def test_trailing_stop_never_moves_back(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail=3)
    h.bar(100, 104, 99, 103)  # stop 101
    h.bar(102, 103, 101.5, 102)  # a lower high does not lower the stop
    assert order.status is OrderStatus.ACCEPTED
    h.bar(101.5, 101.8, 100, 100.5)
    assert h.fill_prices(order) == [Decimal("101")]


def test_trailing_stop_gapped_through_fills_at_the_open(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail=3)
    h.bar(100, 104, 99, 103)  # stop 101
    h.bar(98, 99, 97, 98.5)
    assert h.fill_prices(order) == [Decimal("98")]


def test_trailing_stop_moves_up_with_a_gap_open(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail=3)
    h.bar(100, 104, 99, 103)  # stop 101
    h.bar(110, 111, 106, 110.5)  # opens at 110 (stop 107), dips to 106
    assert h.fill_prices(order) == [Decimal("107")]


def test_buy_trailing_stop_by_percent_follows_the_low(h: Harness) -> None:
    order = h.send(BUY, 10, trail_percent=2)
    h.bar(100, 100.5, 90, 92)  # down: 100 -> 100.5 -> 90 (stop 91.8) -> 92
    assert h.fill_prices(order) == [Decimal("91.8")]
    assert h.position() == 10


def test_sell_trailing_stop_by_percent(h: Harness) -> None:
    go_long(h)
    order = h.send(SELL, 10, trail_percent=5)
    h.bar(100, 120, 99, 113)  # up to 120, stop 114, closes at 113
    assert h.fill_prices(order) == [Decimal("114")]


def test_trailing_stop_is_not_filled_by_a_later_look_at_the_book(h: Harness) -> None:
    # A limit fills on the way down; the venue then looks at the book again. The trailing stop
    # must still be judged from the open, not from the bar's high it has not reached yet.
    go_long(h)
    trail = h.send(SELL, 10, trail=2)
    limit = h.send(BUY, 1, price=99.5)
    h.bar(100, 110, 99, 109)  # 100 -> 99 -> 110 (stop 108) -> 109: never 2 below the best
    assert limit.status is OrderStatus.FILLED
    assert trail.status is OrderStatus.ACCEPTED
    h.bar(109, 109.5, 107, 107.5)  # down: 109 -> 109.5 -> 107 crosses the 108 stop
    assert h.fill_prices(trail) == [Decimal("108")]


def test_trailing_stop_starts_from_the_last_price(h: Harness) -> None:
    go_long(h)
    h.kernel.cache.last_prices[h.symbol] = 105.0
    order = h.send(SELL, 10, trail=3)
    h.bar(101.5, 103, 101, 102)  # opens below 105 - 3
    assert h.fill_prices(order) == [Decimal("101.5")]


# -- modify, cancel, reject ------------------------------------------------------------------


def test_modified_limit_fills_at_its_new_price(h: Harness) -> None:
    order = h.send(BUY, 1, price=90)
    h.kernel.bus.send("RiskEngine.execute", cmd.ModifyOrder(
        order.client_order_id, h.clock.now_ns(), price=Decimal("98")))
    assert h.kinds(order)[-2:] == ["OrderPendingUpdate", "OrderUpdated"]
    assert order.status is OrderStatus.ACCEPTED
    h.bar(*UP)
    assert h.fill_prices(order) == [Decimal("98")]


def test_modify_below_the_filled_quantity_is_rejected() -> None:
    from tradeloop.brokers.simulated.venue import SimulatedVenueConfig

    h = Harness(SimulatedVenueConfig(volume_limit=0.5))
    order = h.send(BUY, 10, price=97)
    h.bar(*UP, volume=8)
    assert order.filled_qty == 4
    h.kernel.bus.send("RiskEngine.execute", cmd.ModifyOrder(
        order.client_order_id, h.clock.now_ns(), quantity=Decimal("4")))
    assert h.kinds(order)[-1] == "OrderModifyRejected"
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.quantity == 10


def test_cancelled_order_never_fills(h: Harness) -> None:
    order = h.send(BUY, 1, price=97)
    h.cancel(order)
    assert order.status is OrderStatus.CANCELED
    assert h.kinds(order)[-2:] == ["OrderPendingCancel", "OrderCanceled"]
    assert not h.venue.has_orders(h.symbol)
    h.bar(*UP)
    assert h.fills() == []


def test_unsupported_order_type_is_rejected() -> None:
    caps = VenueCapabilities(order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}))
    h = Harness(capabilities=caps)
    order = h.send(BUY, 1, trigger=105, price=106)
    assert order.status is OrderStatus.REJECTED
    assert "STOP_LIMIT" in order.reason
    assert not h.venue.has_orders(h.symbol)
