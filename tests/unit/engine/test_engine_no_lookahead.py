"""With several instruments, an order fills only in bars that opened after it was sent."""

from __future__ import annotations

from decimal import Decimal

from engine_harness import DAY, HOUR, T0, Recorder, engine_with, series

from tradeloop.model.data import Bar


def _buy_b_on_first_a_bar(strategy: Recorder, bar: Bar, index: int) -> None:
    if bar.symbol == "A" and bar.ts == T0:
        strategy.buy(1, "B")


def test_order_sent_at_a_close_fills_at_the_next_b_open_not_the_same_day() -> None:
    a = series("A", [50, 51, 52])
    b = series("B", [100, 110, 120])  # B's opens: 100, 100, 110
    engine = engine_with(a, b)
    strategy = Recorder(act=_buy_b_on_first_a_bar)
    engine.add_strategy(strategy)
    engine.run()
    assert len(strategy.fills) == 1
    fill = strategy.fills[0]
    assert fill.ts == T0 + DAY  # the bar that opens when A's first bar closed
    assert fill.last_px == Decimal(100)  # B's second bar opens at its first close


def test_offset_data_never_fills_before_the_order_was_sent() -> None:
    # B's bars open half a day later than A's; the order is sent at A's first close (T0 + 1d)
    a = series("A", [50, 51, 52])
    b = series("B", [100, 110, 120, 130], start=T0 - 12 * HOUR)
    engine = engine_with(a, b)
    strategy = Recorder(act=_buy_b_on_first_a_bar)
    engine.add_strategy(strategy)
    engine.run()
    fill = strategy.fills[0]
    assert fill.ts >= T0 + DAY
    assert fill.ts == T0 + DAY + 12 * HOUR
    assert fill.last_px == Decimal(110)


def test_a_day_order_lives_through_the_first_day_it_can_trade() -> None:
    a = series("A", [50, 51, 52])
    b = series("B", [100, 110, 120, 130], start=T0 - 12 * HOUR)

    def buy_day_limit(strategy: Recorder, bar: Bar, index: int) -> None:
        if bar.symbol == "A" and bar.ts == T0:
            strategy.buy(1, "B", limit=200, tif="DAY")  # marketable: fills when it can trade

    engine = engine_with(a, b)
    strategy = Recorder(act=buy_day_limit)
    engine.add_strategy(strategy)
    engine.run()
    assert [f.ts for f in strategy.fills] == [T0 + DAY + 12 * HOUR]
