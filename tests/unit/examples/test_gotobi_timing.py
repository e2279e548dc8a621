"""Gotobi: dollars bought on gotobi mornings only, and always sold back before the 09:55 fix."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from examples_support import bundled_series, default_run, held_bars, round_trips, run_strategy

from tradeloop.core.time import ns_to_dt
from tradeloop.examples.gotobi import JST, Gotobi, gotobi_days, is_gotobi_day
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import OrderSide

HOUR = 3_600_000_000_000
FIX = time(9, 55)


def _jst(ns: int) -> datetime:
    return ns_to_dt(ns).astimezone(JST)


def _synthetic(symbol: str, start: datetime, step_ns: int, days: int, price: float) -> BarSeries:
    first = int(start.timestamp()) * 1_000_000_000
    ts = np.arange(first, first + days * 86_400_000_000_000, step_ns, dtype=np.int64)
    weekday = np.array([_jst(int(t)).weekday() for t in ts])
    ts = ts[weekday < 5]  # a crude week: Tokyo weekdays only
    wave = price * (1 + 0.001 * np.sin(np.arange(ts.size) / 7))
    close = np.round(wave, 3)
    open_ = np.round(np.concatenate([[price], close[:-1]]), 3)
    high = np.maximum(open_, close) + 0.01
    low = np.minimum(open_, close) - 0.01
    return BarSeries(symbol, ts, open_, high, low, close, np.full(ts.size, 100.0), step_ns)


def test_eurusd_trades_sell_euros_at_seven_and_buy_back_at_nine_jst() -> None:
    run = default_run("gotobi")
    assert run.failures == []
    trips = round_trips(run.fills)
    assert len(trips) == len(run.fills) // 2 and len(run.fills) % 2 == 0
    assert len(trips) >= 50
    late: list[date] = []
    for opening, closing in trips:
        opened, closed = _jst(opening.ts), _jst(closing.ts)
        assert opening.side is OrderSide.SELL  # USD is EURUSD's quote currency
        assert closing.side is OrderSide.BUY
        assert opening.last_qty == closing.last_qty == 10_000
        assert is_gotobi_day(opened.date()), opened
        assert closed.date() == opened.date()
        # hourly bars: the order sent at the 07:00 close fills at the 07:00 open, the closing
        # order sent at the 09:00 close (one bar before the fix) fills at the 09:00 open
        assert closed.time() == time(9, 0), closed
        assert closed.time() < FIX
        if opened.time() != time(7, 0):
            # in northern winter the FX week opens at 22:00 UTC = 07:00 JST Monday: the first
            # bar closes at 08:00 JST, so Monday entries fill at the 08:00 open
            assert opened.time() == time(8, 0) and opened.weekday() == 0, opened
            late.append(opened.date())
    assert late == [date(2017, 11, 20), date(2018, 1, 15), date(2018, 2, 5)]


def test_eurusd_position_is_only_held_in_gotobi_tokyo_mornings() -> None:
    run = default_run("gotobi")
    series = bundled_series("EURUSD")
    held = held_bars(run.fills, series.ts)
    trips = round_trips(run.fills)
    late = sum(_jst(opening.ts).time() == time(8) for opening, _ in trips)
    assert held.sum() == 2 * len(trips) - late  # the 07:00 and 08:00 JST bars
    for i in np.flatnonzero(held):
        bar_open = _jst(int(series.ts[i]))
        bar_close = bar_open + timedelta(hours=1)
        assert is_gotobi_day(bar_open.date())
        assert time(7, 0) <= bar_open.time() and bar_close.time() <= FIX
    assert not run.in_market[-1]
    assert sum(p.quantity for p in run.positions) == 0


def test_eurusd_trades_every_gotobi_morning_the_data_covers() -> None:
    run = default_run("gotobi")
    series = bundled_series("EURUSD")
    closes = [_jst(int(t) + HOUR) for t in series.ts]
    # a day can be traded if some bar closes between 07:00 and one bar before the fix
    morning = {c.date() for c in closes if time(7) <= c.time() < time(8, 55)}
    first, last = _jst(int(series.ts[0])).date(), _jst(int(series.ts[-1])).date()
    expected = set()
    month = date(first.year, first.month, 1)
    while month <= last:
        for day in gotobi_days(month.year, month.month):
            if first <= day <= last and day in morning:
                expected.add(day)
        month = (month + timedelta(days=32)).replace(day=1)
    traded = {_jst(opening.ts).date() for opening, _ in round_trips(run.fills)}
    assert traded == expected
    # e.g. Monday 2017-12-25 is a gotobi day, but the data resumes only after Christmas
    assert date(2017, 12, 25) not in traded and date(2017, 12, 29) in traded


def test_usdjpy_buys_dollars() -> None:
    series = _synthetic("USDJPY", datetime(2017, 11, 1, tzinfo=UTC), HOUR, 30, 112.5)
    run = run_strategy(Gotobi(size=1_000), series, fx_rates={"JPY/USD": 0.0089})
    assert run.failures == []
    trips = round_trips(run.fills)
    assert [_jst(o.ts).date().day for o, _ in trips] == [3, 10, 15, 20, 24, 30]
    for opening, closing in trips:
        assert opening.side is OrderSide.BUY and closing.side is OrderSide.SELL
        assert opening.last_qty == 1_000
        assert _jst(opening.ts).time() == time(7) and _jst(closing.ts).time() == time(9)


def test_five_minute_bars_exit_at_the_0950_open() -> None:
    series = _synthetic("USDJPY", datetime(2017, 11, 14, tzinfo=UTC), HOUR // 12, 3, 112.5)
    run = run_strategy(Gotobi(entry_hour_jst=8), series, fx_rates={"JPY/USD": 0.0089})
    assert run.failures == []
    trips = round_trips(run.fills)
    assert len(trips) == 1
    opening, closing = trips[0]
    assert _jst(opening.ts) == datetime(2017, 11, 15, 8, 0, tzinfo=JST)
    assert _jst(closing.ts) == datetime(2017, 11, 15, 9, 50, tzinfo=JST)


def test_custom_exit_time_is_respected() -> None:
    run = run_strategy(Gotobi(exit_hour_jst=8, exit_minute_jst=30), bundled_series("EURUSD"))
    assert run.failures == []
    trips = round_trips(run.fills)
    for opening, closing in trips:
        assert _jst(opening.ts).time() == time(7)
        assert _jst(closing.ts).time() == time(8)  # the 08:00-09:00 bar would end after 08:30
    # the three winter Mondays whose first bar closes at 08:00 JST leave no room for a trade
    assert len(trips) == len(round_trips(default_run("gotobi").fills)) - 3


def test_a_pair_without_dollars_is_refused() -> None:
    series = _synthetic("EURJPY", datetime(2017, 11, 1, tzinfo=UTC), HOUR, 10, 130.0)
    run = run_strategy(Gotobi(), series, fx_rates={"JPY/USD": 0.0089, "EUR/USD": 1.17})
    assert [f.hook for f in run.failures] == ["on_start"]
    assert "not a dollar pair" in run.failures[0].error
    assert run.fills == []


def test_a_share_is_not_a_currency_pair() -> None:
    run = run_strategy(Gotobi(), bundled_series("GOOG"))
    assert [f.hook for f in run.failures] == ["on_start"]
    assert "not a currency pair" in run.failures[0].error
    assert run.orders == []


def test_entry_after_exit_is_refused() -> None:
    run = run_strategy(Gotobi(entry_hour_jst=10), bundled_series("EURUSD"))
    assert [f.hook for f in run.failures] == ["on_start"]
    assert run.orders == []
    assert Decimal(run.final_equity) == Decimal(100_000)
