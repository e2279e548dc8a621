"""The streaming bar builder, one tick at a time."""

import logging
import math
from datetime import UTC, datetime

import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_MINUTE, NANOS_PER_SECOND, dt_to_ns
from tradeloop.data.bars import BarBuilder, TickBars, TimeBars, ValueBars, VolumeBars
from tradeloop.data.timeframes import BucketAlignment
from tradeloop.model.data import Bar

MIN = NANOS_PER_MINUTE
SEC = NANOS_PER_SECOND
T0 = dt_to_ns(datetime(2024, 5, 6, 10, 0, tzinfo=UTC))  # a Monday, 10:00 UTC
NEW_YORK_SESSION = BucketAlignment("America/New_York", "09:30")


def utc(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))


def feed(builder: BarBuilder, trades: list[tuple[int, float, float]]) -> list[Bar]:
    out: list[Bar] = []
    for ts, price, size in trades:
        out.extend(builder.on_trade(ts, price, size))
    return out


def test_a_time_bar_closes_on_the_first_tick_after_its_end() -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    closed = feed(builder, [
        (T0 + 1 * SEC, 100.0, 2.0),
        (T0 + 20 * SEC, 101.5, 1.0),
        (T0 + 30 * SEC, 99.25, 3.0),
        (T0 + 59 * SEC, 100.5, 4.0),
    ])
    assert closed == []
    closed = feed(builder, [(T0 + MIN, 100.75, 1.0)])
    assert closed == [Bar("ES", T0, 100.0, 101.5, 99.25, 100.5, 10.0, "1m")]


def test_on_time_closes_a_bar_without_a_later_tick_and_only_once() -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    feed(builder, [(T0 + 5 * SEC, 100.0, 1.0), (T0 + 6 * SEC, 101.0, 1.0)])
    assert builder.on_time(T0 + MIN - 1) == ()
    bars = builder.on_time(T0 + MIN)
    assert bars == (Bar("ES", T0, 100.0, 101.0, 100.0, 101.0, 2.0, "1m"),)
    assert builder.on_time(T0 + 2 * MIN) == ()
    # a tick of the next minute opens the next bar; the first one is not emitted again
    assert feed(builder, [(T0 + MIN + SEC, 102.0, 1.0)]) == []
    assert builder.flush() == (Bar("ES", T0 + MIN, 102.0, 102.0, 102.0, 102.0, 1.0, "1m"),)


def test_a_late_tick_after_on_time_closed_its_bar_is_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    feed(builder, [(T0 + 5 * SEC, 100.0, 1.0)])
    assert len(builder.on_time(T0 + MIN + 100)) == 1
    with caplog.at_level(logging.WARNING, logger="tradeloop.data.bars"):
        assert feed(builder, [(T0 + 50 * SEC, 999.0, 1.0)]) == []
    assert builder.dropped_late == 1
    assert "late tick" in caplog.text
    assert builder.flush() == ()
    assert builder.on_time(T0 + 10 * MIN) == ()


def test_a_tick_before_the_current_bar_start_is_dropped() -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    feed(builder, [(T0 + MIN + SEC, 100.0, 1.0)])
    assert feed(builder, [(T0 + 30 * SEC, 50.0, 1.0)]) == []
    assert builder.dropped_late == 1
    # a tick out of order but inside the current bar is kept (close = last arrived)
    feed(builder, [(T0 + MIN + 30 * SEC, 101.0, 1.0), (T0 + MIN + 10 * SEC, 100.5, 1.0)])
    assert builder.flush() == (Bar("ES", T0 + MIN, 100.0, 101.0, 100.0, 100.5, 3.0, "1m"),)


def test_empty_intervals_yield_no_bar_without_carry_forward() -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    feed(builder, [(T0, 100.0, 1.0)])
    closed = feed(builder, [(T0 + 4 * MIN, 101.0, 1.0)])
    assert [bar.ts for bar in closed] == [T0]
    assert builder.on_time(T0 + 60 * MIN) == (Bar("ES", T0 + 4 * MIN, 101.0, 101.0, 101.0,
                                                   101.0, 1.0, "1m"),)


def test_carry_forward_fills_a_gap_when_the_next_tick_arrives() -> None:
    builder = BarBuilder("ES", TimeBars("1m", carry_forward=True))
    feed(builder, [(T0, 100.0, 1.0), (T0 + 10 * SEC, 100.5, 2.0)])
    closed = feed(builder, [(T0 + 3 * MIN + SEC, 101.0, 1.0)])
    assert closed == [
        Bar("ES", T0, 100.0, 100.5, 100.0, 100.5, 3.0, "1m"),
        Bar("ES", T0 + 1 * MIN, 100.5, 100.5, 100.5, 100.5, 0.0, "1m"),
        Bar("ES", T0 + 2 * MIN, 100.5, 100.5, 100.5, 100.5, 0.0, "1m"),
    ]


def test_carry_forward_on_the_clock_emits_each_empty_bucket_once() -> None:
    builder = BarBuilder("ES", TimeBars("1m", carry_forward=True))
    assert builder.on_time(T0 + 5 * MIN) == ()  # nothing to carry before the first tick
    feed(builder, [(T0 + 5 * MIN, 100.0, 1.0)])
    first = builder.on_time(T0 + 7 * MIN + 30 * SEC)
    assert [(bar.ts, bar.close, bar.volume) for bar in first] == [
        (T0 + 5 * MIN, 100.0, 1.0), (T0 + 6 * MIN, 100.0, 0.0)]
    assert builder.on_time(T0 + 7 * MIN + 59 * SEC) == ()
    assert [bar.ts for bar in builder.on_time(T0 + 8 * MIN)] == [T0 + 7 * MIN]
    # a tick in the minute after the last flat bar opens a bar; no bucket appears twice
    assert feed(builder, [(T0 + 8 * MIN + SEC, 99.0, 1.0)]) == []
    later = feed(builder, [(T0 + 10 * MIN, 98.0, 1.0)])
    assert [(bar.ts, bar.volume) for bar in later] == [(T0 + 8 * MIN, 1.0), (T0 + 9 * MIN, 0.0)]
    assert later[1].open == 99.0


def test_flush_returns_the_partial_bar_and_closes_its_bucket() -> None:
    builder = BarBuilder("ES", TimeBars("1m"))
    assert builder.flush() == ()
    feed(builder, [(T0 + SEC, 100.0, 1.0)])
    assert builder.flush() == (Bar("ES", T0, 100.0, 100.0, 100.0, 100.0, 1.0, "1m"),)
    assert builder.flush() == ()
    assert feed(builder, [(T0 + 2 * SEC, 100.0, 1.0)]) == []
    assert builder.dropped_late == 1


def test_quote_prices_and_tick_volume() -> None:
    quotes = [(T0, 1.1000, 1.1002), (T0 + SEC, 1.1004, 1.1006), (T0 + 2 * SEC, 1.0998, 1.1000)]
    for price, expected in [
        ("mid", (1.1001, 1.1005, 1.0999, 1.0999)),
        ("bid", (1.1000, 1.1004, 1.0998, 1.0998)),
        ("ask", (1.1002, 1.1006, 1.1000, 1.1000)),
    ]:
        builder = BarBuilder("EURUSD", TimeBars("1m"), price=price)  # type: ignore[arg-type]
        for ts, bid, ask in quotes:
            assert builder.on_quote(ts, bid, ask) == ()
        (bar,) = builder.flush()
        assert (bar.open, bar.high, bar.low, bar.close) == pytest.approx(expected, abs=1e-12)
        assert bar.volume == 3.0  # three quote updates


def test_mid_is_half_the_sum_of_bid_and_ask() -> None:
    builder = BarBuilder("EURUSD", TickBars(1))
    (bar,) = builder.on_quote(T0, 0.1, 0.2)
    assert bar.close == (0.1 + 0.2) * 0.5


def test_tick_bars_close_every_n_ticks_at_the_first_ticks_time() -> None:
    builder = BarBuilder("ES", TickBars(3))
    closed = feed(builder, [(T0 + i * SEC, 100.0 + i, 1.0) for i in range(7)])
    assert closed == [
        Bar("ES", T0, 100.0, 102.0, 100.0, 102.0, 3.0, "3tick"),
        Bar("ES", T0 + 3 * SEC, 103.0, 105.0, 103.0, 105.0, 3.0, "3tick"),
    ]
    assert builder.on_time(T0 + 60 * MIN) == ()
    assert builder.flush() == (Bar("ES", T0 + 6 * SEC, 106.0, 106.0, 106.0, 106.0, 1.0,
                                   "3tick"),)


def test_the_tick_that_reaches_the_volume_threshold_belongs_to_the_bar() -> None:
    builder = BarBuilder("ES", VolumeBars(10))
    closed = feed(builder, [(T0, 100.0, 3.0), (T0, 101.0, 3.0), (T0 + SEC, 99.0, 5.0),
                            (T0 + 2 * SEC, 98.0, 10.0), (T0 + 3 * SEC, 97.0, 2.0)])
    assert closed == [
        Bar("ES", T0, 100.0, 101.0, 99.0, 99.0, 11.0, "10vol"),
        Bar("ES", T0 + 2 * SEC, 98.0, 98.0, 98.0, 98.0, 10.0, "10vol"),
    ]
    assert builder.flush() == (Bar("ES", T0 + 3 * SEC, 97.0, 97.0, 97.0, 97.0, 2.0, "10vol"),)


def test_value_bars_use_price_times_size() -> None:
    builder = BarBuilder("ES", ValueBars(1000))
    assert feed(builder, [(T0, 100.0, 4.0), (T0 + SEC, 200.0, 2.0)]) == []  # 400 + 400
    (bar,) = feed(builder, [(T0 + 2 * SEC, 50.0, 4.0)])  # + 200 = 1000
    assert bar == Bar("ES", T0, 100.0, 200.0, 50.0, 50.0, 10.0, "1000value")


def test_volume_bars_on_quotes_count_updates() -> None:
    builder = BarBuilder("EURUSD", VolumeBars(2))
    assert builder.on_quote(T0, 1.0, 1.2) == ()
    (bar,) = builder.on_quote(T0 + 1, 1.2, 1.4)
    assert bar.volume == 2.0 and bar.open == 1.1 and bar.close == 1.2999999999999998


@pytest.mark.parametrize(
    ("price", "size", "reason"),
    [
        (math.nan, 1.0, "price nan is not a positive finite number"),
        (0.0, 1.0, "price 0.0 is not a positive finite number"),
        (-1.0, 1.0, "price -1.0 is not a positive finite number"),
        (math.inf, 1.0, "price inf is not a positive finite number"),
        (100.0, -1.0, "size -1.0 is not a non-negative finite number"),
        (100.0, math.nan, "size nan is not a non-negative finite number"),
    ],
)
@pytest.mark.parametrize("spec", [TimeBars("1m"), TickBars(2), VolumeBars(5), ValueBars(5)])
def test_a_bad_tick_raises_one_line_data_error(
    spec: TimeBars, price: float, size: float, reason: str
) -> None:
    builder = BarBuilder("ES", spec)
    feed(builder, [(T0, 100.0, 1.0)])
    with pytest.raises(DataError) as info:
        builder.on_trade(T0 + SEC, price, size)
    assert str(info.value) == f"ES: tick at 2024-05-06T10:00:01Z: {reason}"


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="price source 'last'"):
        BarBuilder("ES", TimeBars("1m"), price="last")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="positive whole number of ticks"):
        TickBars(0)
    with pytest.raises(ConfigError, match="positive finite threshold"):
        VolumeBars(-1.0)
    with pytest.raises(ConfigError, match="positive finite threshold"):
        ValueBars(math.nan)
    with pytest.raises(ConfigError, match="unknown timeframe"):
        TimeBars("fortnight")
    with pytest.raises(ConfigError, match="unknown bar spec"):
        BarBuilder("ES", "1m")  # type: ignore[arg-type]


def test_hourly_bars_aligned_to_the_new_york_session_across_spring_forward() -> None:
    # 2024-03-10: 02:00 EST becomes 03:00 EDT (07:00 UTC). Buckets open at :30 local, so the
    # 01:30 EST bucket ends at 03:00 EDT (the first valid instant after 02:30 local) and the
    # next bucket, from 03:00 EDT, ends at 03:30 EDT.
    builder = BarBuilder("SPY", TimeBars("1h", NEW_YORK_SESSION))
    ticks = [utc(2024, 3, 10, 6, 45), utc(2024, 3, 10, 7, 10), utc(2024, 3, 10, 7, 40)]
    closed = feed(builder, [(ts, 100.0, 1.0) for ts in ticks])
    assert [bar.ts for bar in closed] == [utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7, 0)]
    assert builder.on_time(utc(2024, 3, 10, 8, 29)) == ()
    assert [bar.ts for bar in builder.on_time(utc(2024, 3, 10, 8, 30))] == [
        utc(2024, 3, 10, 7, 30)]


def test_half_hour_buckets_tile_the_repeated_hour_when_clocks_go_back() -> None:
    # 2024-11-03: 01:00-02:00 New York time happens twice (05:00-06:00 and 06:00-07:00 UTC).
    # The 01:30 EDT bucket (05:30 UTC) lasts until 02:00 EST (07:00 UTC): the second pass
    # through 01:xx never reopens a bucket that has already closed.
    builder = BarBuilder("SPY", TimeBars("30m", NEW_YORK_SESSION))
    closed = feed(builder, [(utc(2024, 11, 3, 5, 10), 100.0, 1.0),
                            (utc(2024, 11, 3, 5, 40), 101.0, 1.0)])
    assert [bar.ts for bar in closed] == [utc(2024, 11, 3, 5, 0)]
    assert builder.on_time(utc(2024, 11, 3, 6, 0)) == ()
    assert feed(builder, [(utc(2024, 11, 3, 6, 10), 102.0, 1.0)]) == []
    assert builder.dropped_late == 0
    (bar,) = builder.on_time(utc(2024, 11, 3, 7, 0))
    assert (bar.ts, bar.open, bar.close, bar.volume) == (utc(2024, 11, 3, 5, 30), 101.0, 102.0,
                                                         2.0)


def test_daily_bars_at_the_new_york_fx_close_last_23_hours_on_spring_forward() -> None:
    builder = BarBuilder("EURUSD", TimeBars("1d", BucketAlignment("America/New_York", "17:00")))
    feed(builder, [(utc(2024, 3, 9, 23), 1.09, 1.0)])  # Saturday 18:00 EST
    assert builder.on_time(utc(2024, 3, 10, 20, 59)) == ()
    (bar,) = builder.on_time(utc(2024, 3, 10, 21))  # Sunday 17:00 EDT, 23 hours later
    assert bar.ts == utc(2024, 3, 9, 22)  # Saturday 17:00 EST
