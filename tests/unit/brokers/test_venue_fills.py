"""Volume-limited partial fills across bars, and reduce-only orders at the simulated venue."""

from __future__ import annotations

from decimal import Decimal

from venue_harness import BUY, SELL, Harness

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.model import commands as cmd
from tradeloop.model.enums import OrderStatus
from tradeloop.model.instrument import Instrument


def limited(fraction: float = 0.1, **kwargs: object) -> Harness:
    return Harness(SimulatedVenueConfig(volume_limit=fraction), **kwargs)  # type: ignore[arg-type]


# -- volume limit ----------------------------------------------------------------------------


def test_market_order_fills_over_several_bars() -> None:
    h = limited()
    order = h.send(BUY, 25)
    statuses = []
    for open_ in (100, 101, 102):
        h.bar(open_, open_ + 1, open_ - 1, open_ + 0.5, volume=100)
        statuses.append(order.status)
    assert statuses == [
        OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
    ]
    assert [(f.last_qty, f.last_px) for f in h.fills(order)] == [
        (Decimal("10"), Decimal("100")), (Decimal("10"), Decimal("101")),
        (Decimal("5"), Decimal("102")),
    ]
    assert order.avg_px == Decimal("100.8")
    assert h.position() == 25
    assert not h.venue.has_orders(h.symbol)


def test_limit_order_fills_over_several_bars_at_its_price_or_better() -> None:
    h = limited(0.5)
    order = h.send(BUY, 10, price=99)
    h.bar(100, 101, 98, 100.5, volume=8)  # 4 at 99
    h.bar(100, 101, 99.5, 100.5, volume=100)  # not reached
    h.bar(97, 98, 96, 97.5, volume=10)  # 5 at the better open
    h.bar(98, 99, 97, 98, volume=10)  # the last 1
    assert [(f.last_qty, f.last_px) for f in h.fills(order)] == [
        (Decimal("4"), Decimal("99")), (Decimal("5"), Decimal("97")),
        (Decimal("1"), Decimal("98")),
    ]
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("97.9")


def test_volume_share_rounds_down_to_the_lot() -> None:
    h = limited()
    order = h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5, volume=59)  # 5.9 shares: 5
    assert order.filled_qty == 5


def test_bar_too_thin_for_a_single_lot_fills_nothing() -> None:
    h = limited()
    order = h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5, volume=5)
    assert order.status is OrderStatus.ACCEPTED
    assert h.fills() == []
    h.bar(100, 101, 99, 100.5, volume=1000)
    assert order.status is OrderStatus.FILLED


def test_fractional_lots_fill_fractions() -> None:
    btc = Instrument("BTCUSD", tick_size=Decimal("0.5"), lot_step=Decimal("0.001"),
                     min_quantity=Decimal("0.001"))
    h = limited(0.01, instrument=btc)
    order = h.send(BUY, "1.5")
    h.bar(40000, 40100, 39900, 40050, volume=123.4567)
    assert order.filled_qty == Decimal("1.234")


def test_each_order_gets_its_own_share_of_the_volume() -> None:
    h = limited()
    first = h.send(BUY, 10)
    second = h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5, volume=100)
    assert first.filled_qty == 10
    assert second.filled_qty == 10


def test_no_volume_limit_fills_any_size(h: Harness) -> None:
    order = h.send(BUY, 1_000_000)
    h.bar(100, 101, 99, 100.5, volume=1)
    assert order.status is OrderStatus.FILLED


def test_partly_filled_order_can_be_cancelled() -> None:
    h = limited()
    order = h.send(BUY, 25)
    h.bar(100, 101, 99, 100.5, volume=100)
    h.cancel(order)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == 10
    h.bar(100, 101, 99, 100.5, volume=100)
    assert h.position() == 10


# -- reduce-only -----------------------------------------------------------------------------


def test_reduce_only_exit_of_the_whole_position_fills(h: Harness) -> None:
    h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    order = h.send(SELL, 10, price=101, reduce_only=True)
    h.bar(100.5, 102, 100, 101.5)
    assert order.status is OrderStatus.FILLED
    assert h.position() == 0


def test_reduce_only_larger_than_the_position_is_clamped(h: Harness) -> None:
    h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    order = h.send(SELL, 15, reduce_only=True)
    h.bar(100.5, 102, 100, 101.5)
    assert [f.last_qty for f in h.fills(order)] == [Decimal("10")]
    assert h.position() == 0
    assert order.status is OrderStatus.PARTIALLY_FILLED
    h.bar(101.5, 102, 101, 101.8)  # the rest would open a short: cancelled
    assert order.status is OrderStatus.CANCELED
    assert "reduce-only" in order.reason
    assert h.position() == 0


def test_reduce_only_fok_larger_than_the_position_is_cancelled_unfilled(h: Harness) -> None:
    from tradeloop.model.enums import TimeInForce

    h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    order = h.send(SELL, 15, reduce_only=True, tif=TimeInForce.FOK)
    h.bar(100.5, 102, 100, 101.5)
    assert order.status is OrderStatus.CANCELED
    assert h.fills(order) == []
    assert "FOK" in order.reason
    assert h.position() == 10


def test_reduce_only_short_cover_is_clamped(h: Harness) -> None:
    h.send(SELL, 4)
    h.bar(100, 101, 99, 100.5)
    order = h.send(BUY, 6, reduce_only=True)
    h.bar(100.5, 102, 100, 101.5)
    assert order.filled_qty == 4
    assert h.position() == 0


def test_reduce_only_that_would_open_a_position_is_cancelled(h: Harness) -> None:
    # The risk gate denies it when flat; sent straight to execution the venue cancels it.
    order = h.order(SELL, 5, reduce_only=True)
    h.kernel.cache.add_order(order)
    h.kernel.bus.send("ExecEngine.execute", cmd.SubmitOrder(order, h.clock.now_ns()))
    assert order.status is OrderStatus.ACCEPTED
    h.bar(100, 101, 99, 100.5)
    assert order.status is OrderStatus.CANCELED
    assert "reduce-only" in order.reason
    assert h.fills() == []
    assert h.position() == 0


def test_reduce_only_after_the_position_was_closed_is_cancelled(h: Harness) -> None:
    h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    target = h.send(SELL, 10, price=110, reduce_only=True)
    h.send(SELL, 10)  # closes the position first
    h.bar(100.5, 101, 100, 100.8)
    assert h.position() == 0
    h.bar(109, 111, 108, 110.5)
    assert target.status is OrderStatus.CANCELED
    assert h.position() == 0


def test_reduce_only_in_the_adding_direction_is_cancelled(h: Harness) -> None:
    h.send(BUY, 10)
    h.bar(100, 101, 99, 100.5)
    order = h.order(BUY, 5, reduce_only=True)
    h.kernel.cache.add_order(order)
    h.kernel.bus.send("ExecEngine.execute", cmd.SubmitOrder(order, h.clock.now_ns()))
    h.bar(100.5, 101, 100, 100.8)
    assert order.status is OrderStatus.CANCELED
    assert h.position() == 10


def test_risk_gate_denies_a_reduce_only_order_when_flat(h: Harness) -> None:
    order = h.send(SELL, 5, reduce_only=True)
    assert order.status is OrderStatus.DENIED
    assert h.kinds(order) == ["OrderDenied"]
