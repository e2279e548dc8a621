"""Time in force at the simulated venue: IOC, FOK, DAY (weekends and time zones) and GTD."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from venue_harness import BUY, SELL, Harness

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.time import NANOS_PER_HOUR, dt_to_ns
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus, TimeInForce

IOC, FOK, DAY, GTD = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY, TimeInForce.GTD
UP = (100.0, 110.0, 95.0, 105.0)


def utc(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


# -- IOC and FOK -----------------------------------------------------------------------------


def test_ioc_limit_not_marketable_at_the_open_is_cancelled(h: Harness) -> None:
    order = h.send(BUY, 1, price=97, tif=IOC)
    h.bar(*UP)  # reaches 97 later in the bar, too late for an IOC
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == 0
    assert "IOC" in order.reason
    assert not h.venue.has_orders(h.symbol)


def test_fok_limit_not_marketable_at_the_open_is_cancelled(h: Harness) -> None:
    order = h.send(SELL, 1, price=108, tif=FOK)
    h.bar(*UP)
    assert order.status is OrderStatus.CANCELED
    assert h.fills() == []


def test_marketable_ioc_limit_fills_at_the_open(h: Harness) -> None:
    order = h.send(BUY, 3, price=101, tif=IOC)
    h.bar(*UP)
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("100")


def test_ioc_stop_not_triggered_at_the_open_is_cancelled(h: Harness) -> None:
    order = h.send(BUY, 1, trigger=108, tif=IOC)
    h.bar(*UP)
    assert order.status is OrderStatus.CANCELED


def test_ioc_partial_fill_under_a_volume_limit_cancels_the_rest() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.1))
    order = h.send(BUY, 25, tif=IOC)
    h.bar(*UP, volume=100)
    assert [f.last_qty for f in h.fills(order)] == [Decimal("10")]
    assert order.filled_qty == 10
    assert order.status is OrderStatus.CANCELED
    assert h.kinds(order)[-2:] == ["OrderFilled", "OrderCanceled"]
    assert h.position() == 10
    h.bar(*UP, volume=100)
    assert order.filled_qty == 10


def test_fok_with_too_little_volume_is_cancelled_without_a_fill() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.1))
    order = h.send(BUY, 25, tif=FOK)
    h.bar(*UP, volume=100)
    assert order.status is OrderStatus.CANCELED
    assert h.fills() == []
    assert "FOK" in order.reason
    assert "10" in order.reason
    assert h.position() == 0


def test_fok_with_enough_volume_fills_completely() -> None:
    h = Harness(SimulatedVenueConfig(volume_limit=0.1))
    order = h.send(BUY, 10, tif=FOK)
    h.bar(*UP, volume=100)
    assert order.status is OrderStatus.FILLED
    assert [f.last_qty for f in h.fills(order)] == [Decimal("10")]


def test_ioc_sent_while_a_bar_is_matched_gets_the_next_bar(h: Harness) -> None:
    # A strategy reacting to a fill sends an IOC while the venue is still in the bar. Like any
    # order sent then it starts matching at the next bar; it is not cancelled unseen.
    entry = h.send(BUY, 10)
    sent = []

    def react(event: ev.OrderEvent) -> None:
        if isinstance(event, ev.OrderFilled) and event.client_order_id == entry.client_order_id:
            sent.append(h.send(SELL, 10, price=99, tif=IOC))

    h.kernel.bus.subscribe("events.order.T", react)
    h.bar(*UP)
    (ioc,) = sent
    assert ioc.status is OrderStatus.ACCEPTED
    h.bar(105, 106, 104, 105.5)
    assert ioc.status is OrderStatus.FILLED
    assert ioc.avg_px == Decimal("105")


# -- DAY -------------------------------------------------------------------------------------


def test_day_order_fills_later_in_its_day(h: Harness) -> None:
    order = h.send(BUY, 1, price=90, tif=DAY)
    h.bar(*UP)  # Tuesday 14:00
    h.bar(*UP)  # Tuesday 15:00
    h.bar(91, 92, 89, 90.5)  # Tuesday 16:00
    assert order.status is OrderStatus.FILLED


def test_day_order_expires_when_a_bar_of_a_new_day_arrives(h: Harness) -> None:
    order = h.send(BUY, 1, price=90, tif=DAY)
    h.bar(*UP)  # Tuesday 14:00
    h.bar(*UP, ts=utc(2024, 1, 2, 23))
    assert order.status is OrderStatus.ACCEPTED
    h.bar(91, 92, 89, 90.5, ts=utc(2024, 1, 3, 0))  # would fill, but it is Wednesday
    assert order.status is OrderStatus.EXPIRED
    assert h.fills() == []
    assert h.kinds(order)[-1] == "OrderExpired"
    assert not h.venue.has_orders(h.symbol)


def test_day_order_sent_after_fridays_close_lives_through_monday() -> None:
    h = Harness(start_ns=utc(2024, 1, 5, 14, 30))  # Friday
    h.bar(*UP)
    h.clock.advance_to(utc(2024, 1, 5, 22))  # after Friday's close
    order = h.send(BUY, 1, price=90, tif=DAY)
    h.bar(*UP, ts=utc(2024, 1, 8, 14, 30))  # Monday's first bar
    h.bar(*UP, ts=utc(2024, 1, 8, 20))
    assert order.status is OrderStatus.ACCEPTED
    h.bar(*UP, ts=utc(2024, 1, 9, 14, 30))  # Tuesday
    assert order.status is OrderStatus.EXPIRED


def test_day_order_sent_after_fridays_close_can_fill_on_monday() -> None:
    h = Harness(start_ns=utc(2024, 1, 5, 22))
    order = h.send(BUY, 1, price=90, tif=DAY)
    h.bar(*UP, ts=utc(2024, 1, 8, 14, 30))
    h.bar(91, 92, 89, 90.5, ts=utc(2024, 1, 8, 19))
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("90")


def test_day_ends_in_the_configured_time_zone() -> None:
    h = Harness(SimulatedVenueConfig(day_timezone="America/New_York"))
    order = h.send(BUY, 1, price=90, tif=DAY)
    h.bar(*UP)  # Tuesday 09:00 in New York
    h.bar(*UP, ts=utc(2024, 1, 3, 2))  # Wednesday in UTC, still Tuesday 21:00 in New York
    assert order.status is OrderStatus.ACCEPTED
    h.bar(*UP, ts=utc(2024, 1, 3, 15))  # Wednesday in New York
    assert order.status is OrderStatus.EXPIRED


def test_day_bracket_child_gets_its_day_when_it_starts_working(h: Harness) -> None:
    parent, sl, tp = h.bracket_orders(BUY, 1, 80, 120, entry=90)
    for leg in (sl, tp):
        leg.time_in_force = DAY
    h.submit_list(parent, sl, tp)
    h.bar(*UP)
    h.bar(*UP, ts=utc(2024, 1, 4, 14))  # two days later the entry fills
    h.bar(91, 92, 89, 90.5, ts=utc(2024, 1, 4, 15))
    assert parent.status is OrderStatus.FILLED
    assert sl.status is OrderStatus.ACCEPTED
    h.bar(*UP, ts=utc(2024, 1, 4, 16))
    assert sl.status is OrderStatus.ACCEPTED
    h.bar(*UP, ts=utc(2024, 1, 5, 14))
    assert sl.status is OrderStatus.EXPIRED
    assert tp.status is OrderStatus.CANCELED


# -- GTD -------------------------------------------------------------------------------------


def test_gtd_order_expires_at_its_time(h: Harness) -> None:
    expire = h.next_ts + 2 * NANOS_PER_HOUR
    order = h.send(BUY, 1, price=90, tif=GTD, expire_ns=expire)
    h.bar(*UP)
    h.bar(*UP)
    assert order.status is OrderStatus.ACCEPTED
    ts = h.bar(91, 92, 89, 90.5)  # opens exactly at the expiry time
    assert ts == expire
    assert order.status is OrderStatus.EXPIRED
    assert h.fills() == []


def test_gtd_order_fills_before_its_time(h: Harness) -> None:
    expire = h.next_ts + 2 * NANOS_PER_HOUR
    order = h.send(BUY, 1, price=90, tif=GTD, expire_ns=expire)
    h.bar(*UP)
    h.bar(91, 92, 89, 90.5)
    assert order.status is OrderStatus.FILLED


def test_expired_gtd_bracket_entry_cancels_its_children(h: Harness) -> None:
    parent, sl, tp = h.bracket_orders(BUY, 1, 80, 120, entry=90)
    parent.time_in_force, parent.expire_ns = GTD, h.next_ts + NANOS_PER_HOUR
    h.submit_list(parent, sl, tp)
    h.bar(*UP)
    h.bar(*UP)
    assert parent.status is OrderStatus.EXPIRED
    assert sl.status is OrderStatus.CANCELED
    assert tp.status is OrderStatus.CANCELED
    assert not h.venue.has_orders(h.symbol)
