"""Resampling bars, checked against pandas; the bucket arithmetic shared with bar building."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE, dt_to_ns
from tradeloop.data.bars import TimeBars, build_bars
from tradeloop.data.resample import (
    BucketTable,
    bar_close_times,
    bucket_chain,
    bucket_ends,
    bucket_range,
    resample_bars,
    sequential_segment_sums,
    tiled_bucket_starts,
)
from tradeloop.data.timeframes import (
    UTC_MIDNIGHT,
    BucketAlignment,
    bucket_starts,
    parse_timeframe,
)
from tradeloop.model.data import BarSeries, TradeSeries

MIN = NANOS_PER_MINUTE
HOUR = NANOS_PER_HOUR
NEW_YORK_FX_DAY = BucketAlignment("America/New_York", "17:00")
FX_WEEK = BucketAlignment("America/New_York", "17:00", "sunday")


def utc(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))


def minute_bars(start: int, days: int, seed: int, step: int = MIN) -> BarSeries:
    """Random one-minute bars with holes: single minutes, an hour, a weekend-like stretch."""
    rng = np.random.default_rng(seed)
    n = days * NANOS_PER_DAY // step
    ts = start + np.arange(n, dtype=np.int64) * step
    keep = rng.random(n) > 0.2
    keep[300:360] = False
    keep[n // 2 : n // 2 + 2_000] = False
    ts = ts[keep]
    close = np.round(100 + np.cumsum(rng.normal(0, 0.05, ts.shape[0])), 2)
    open_ = np.round(close + rng.normal(0, 0.02, ts.shape[0]), 2)
    high = np.maximum(open_, close) + np.round(rng.random(ts.shape[0]) * 0.1, 2)
    low = np.minimum(open_, close) - np.round(rng.random(ts.shape[0]) * 0.1, 2)
    volume = rng.integers(1, 500, ts.shape[0]).astype(np.float64)
    return BarSeries("EURUSD", ts, open_, high, low, close, volume, step, "eurusd_m1.csv")


def frame_of(bars: BarSeries, timezone: str = "UTC") -> pd.DataFrame:
    index = pd.to_datetime(bars.ts, utc=True).tz_convert(timezone)
    return pd.DataFrame({"open": bars.open, "high": bars.high, "low": bars.low,
                         "close": bars.close, "volume": bars.volume}, index=index)


AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def oracle(frame: pd.DataFrame, groups: pd.Series | None = None, **resample: object
           ) -> pd.DataFrame:
    if groups is not None:
        out = frame.groupby(groups.to_numpy()).agg(AGG)
        out.index = pd.DatetimeIndex(out.index)
    else:
        out = frame.resample(**resample).agg(AGG)  # type: ignore[arg-type]
    return out.dropna(subset=["open"])


def assert_same(bars: BarSeries, expected: pd.DataFrame) -> None:
    labels = expected.index.tz_convert("UTC").as_unit("ns").asi8
    assert bars.ts.tolist() == labels.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(bars, column).tolist() == expected[column].tolist(), column


@pytest.mark.parametrize("rule", ["5min", "15min", "1h", "4h", "1D"])
def test_utc_resampling_matches_pandas(rule: str) -> None:
    source = minute_bars(utc(2024, 3, 4), days=6, seed=1)
    target = parse_timeframe(rule.replace("min", "m").replace("D", "d"))
    expected = oracle(frame_of(source), rule=rule, label="left", closed="left")
    got = resample_bars(source, target, include_partial=True)
    assert_same(got, expected)
    assert got.timeframe_ns == target.ns and got.source == "eurusd_m1.csv"
    complete = resample_bars(source, target)
    last_end = int(source.ts[-1]) + MIN
    assert_same(complete, expected[expected.index.as_unit("ns").asi8 + target.ns <= last_end])


@pytest.mark.parametrize(("start", "change_day_hours"), [(utc(2024, 3, 4), 23),
                                                         (utc(2024, 10, 29), 25)])
def test_the_new_york_5pm_day_across_a_dst_change_matches_pandas(
    start: int, change_day_hours: int
) -> None:
    source = minute_bars(start, days=10, seed=2)
    frame = frame_of(source, "America/New_York")
    frame.index = frame.index.tz_localize(None)  # wall-clock days: 17:00 to 17:00 local
    expected = oracle(frame, rule="1D", offset="17h", label="left", closed="left")
    expected.index = expected.index.tz_localize("America/New_York")
    got = resample_bars(source, "1d", NEW_YORK_FX_DAY, include_partial=True)
    assert_same(got, expected)
    hours = (bar_close_times(got, NEW_YORK_FX_DAY) - got.ts) // HOUR
    assert sorted(set(hours.tolist())) == sorted({24, change_day_hours})


def test_fx_weeks_from_sunday_5pm_match_a_pandas_grouping() -> None:
    source = minute_bars(utc(2024, 2, 20), days=40, seed=3, step=15 * MIN)  # across 10 March
    frame = frame_of(source, "America/New_York")
    wall = frame.index.tz_localize(None) - pd.Timedelta(hours=17)
    sunday = wall.normalize() - pd.to_timedelta((wall.day_of_week + 1) % 7, unit="D")
    week_start = (sunday + pd.Timedelta(hours=17)).tz_localize("America/New_York")
    expected = oracle(frame, groups=pd.Series(week_start))
    assert_same(resample_bars(source, "1w", FX_WEEK, include_partial=True), expected)


def test_resample_equals_building_from_each_bars_own_price_sequence() -> None:
    source = minute_bars(utc(2024, 3, 8), days=4, seed=4)
    n = len(source)
    ts = (source.ts[:, None] + np.arange(4)).ravel()
    prices = np.stack([source.open, source.high, source.low, source.close], axis=1).ravel()
    sizes = np.stack([np.zeros(n), np.zeros(n), np.zeros(n), source.volume], axis=1).ravel()
    ticks = TradeSeries("EURUSD", ts, prices, sizes)
    for target in ("5m", "1h", "1d"):
        spec = TimeBars(target, NEW_YORK_FX_DAY)
        built = build_bars(ticks, spec, end_ns=int(source.ts[-1]) + MIN)
        resampled = resample_bars(source, target, NEW_YORK_FX_DAY)
        for column in ("ts", "open", "high", "low", "close", "volume"):
            assert getattr(built, column).tolist() == getattr(resampled, column).tolist()


def test_a_bucket_is_complete_when_it_ends_by_the_data_end() -> None:
    ts = utc(2024, 5, 6, 10) + np.arange(7, dtype=np.int64) * MIN  # 10:00 .. 10:06
    ones = np.ones(7)
    source = BarSeries("X", ts, ones, ones, ones, ones, ones, MIN)
    assert resample_bars(source, "5m").ts.tolist() == [utc(2024, 5, 6, 10)]
    assert len(resample_bars(source, "5m", include_partial=True)) == 2
    assert len(resample_bars(source, "5m", end_ns=utc(2024, 5, 6, 10, 9, 59))) == 1
    assert len(resample_bars(source, "5m", end_ns=utc(2024, 5, 6, 10, 10))) == 2
    assert len(resample_bars(source, "5m", end_ns=utc(2024, 5, 6, 10, 4))) == 0


@pytest.mark.parametrize(
    ("source_step", "target", "alignment", "message"),
    [
        (HOUR, "1h", UTC_MIDNIGHT, "cannot resample 1h bars to 1h: the target timeframe must "
                                   "be longer than the source"),
        (HOUR, "30m", UTC_MIDNIGHT, "must be longer than the source"),
        (7 * MIN, "1h", UTC_MIDNIGHT, "cannot resample 7m bars to 1h: 7m does not divide 1h"),
        (2 * MIN, "10m", BucketAlignment("UTC", "09:31"),
         "x.csv: the 2m bar at 2024-05-06T00:00:00Z crosses the 10m boundary at "
         "2024-05-06T00:01:00Z: 2m bars do not fit 10m buckets aligned at 09:31 UTC"),
        (4 * HOUR, "1d", NEW_YORK_FX_DAY,
         "the 4h bar at 2024-05-06T20:00:00Z crosses the 1d boundary at 2024-05-06T21:00:00Z: "
         "4h bars do not fit 1d buckets aligned at 17:00 America/New_York"),
    ],
)
def test_targets_that_do_not_fit_are_config_errors(
    source_step: int, target: str, alignment: BucketAlignment, message: str
) -> None:
    ts = utc(2024, 5, 6) + np.arange(0, NANOS_PER_DAY, source_step, dtype=np.int64)
    ones = np.ones(ts.shape[0])
    source = BarSeries("X", ts, ones, ones, ones, ones, ones, source_step, "x.csv")
    with pytest.raises(ConfigError) as info:
        resample_bars(source, target, alignment)
    assert message in str(info.value)


def test_unknown_source_length_is_inferred_or_refused() -> None:
    ts = utc(2024, 5, 6) + np.arange(10, dtype=np.int64) * MIN
    ones = np.ones(10)
    assert len(resample_bars(BarSeries("X", ts, ones, ones, ones, ones, ones, 0), "5m")) == 2
    single = BarSeries("X", ts[:1], ones[:1], ones[:1], ones[:1], ones[:1], ones[:1], 0)
    with pytest.raises(ConfigError, match="the bar length is unknown"):
        resample_bars(single, "5m")


def test_unsorted_source_bars_are_a_data_error() -> None:
    ts = np.array([utc(2024, 5, 6), utc(2024, 5, 6, 0, 2), utc(2024, 5, 6, 0, 1)])
    ones = np.ones(3)
    with pytest.raises(DataError, match=r"^x\.csv: bar 2 at 2024-05-06T00:01:00Z: timestamps"):
        resample_bars(BarSeries("X", ts, ones, ones, ones, ones, ones, MIN, "x.csv"), "5m")


def test_empty_source_gives_empty_bars() -> None:
    empty = np.empty(0)
    source = BarSeries("X", np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty, MIN)
    assert len(resample_bars(source, "1h")) == 0


def test_bar_close_times() -> None:
    ts = np.array([utc(2024, 3, 8, 22), utc(2024, 3, 9, 22), utc(2024, 3, 10, 21)])
    ones = np.ones(3)
    daily = BarSeries("X", ts, ones, ones, ones, ones, ones, NANOS_PER_DAY)
    assert bar_close_times(daily, NEW_YORK_FX_DAY).tolist() == [
        utc(2024, 3, 9, 22), utc(2024, 3, 10, 21), utc(2024, 3, 11, 21)]
    assert bar_close_times(daily).tolist() == (ts + NANOS_PER_DAY).tolist()
    with pytest.raises(ConfigError, match="timeframe_ns is 0"):
        bar_close_times(BarSeries("X", ts, ones, ones, ones, ones, ones, 0))


# --- the bucket arithmetic ----------------------------------------------------------------------

WINDOWS = [  # US fall and spring, EU fall, Lord Howe's half-hour change
    ("2024-11-02 20:00", "2024-11-03 12:00"),
    ("2024-03-09 20:00", "2024-03-10 12:00"),
    ("2024-10-26 20:00", "2024-10-27 12:00"),
    ("2024-04-06 10:00", "2024-04-07 10:00"),
]


@pytest.mark.parametrize("timeframe", ["1m", "5m", "7m", "30m", "45m", "1h", "90m", "4h"])
@pytest.mark.parametrize(
    "alignment",
    [BucketAlignment("America/New_York", "09:30"), BucketAlignment("Europe/London", "01:15"),
     BucketAlignment("Australia/Lord_Howe", "00:00"), UTC_MIDNIGHT],
    ids=lambda a: a.timezone,
)
def test_buckets_tile_time_across_daylight_saving_changes(
    timeframe: str, alignment: BucketAlignment
) -> None:
    tf = parse_timeframe(timeframe)
    rng = np.random.default_rng(5)
    for lo, hi in WINDOWS:
        grid = pd.date_range(lo, hi, freq="1min", tz="UTC").as_unit("ns").asi8
        starts = np.unique(bucket_starts(grid, tf, alignment))  # every start is a whole minute
        assert (bucket_starts(starts, tf, alignment) == starts).all()
        ts = np.sort(rng.integers(int(starts[1]), int(starts[-3]), 2_000))
        for sample in (ts, ts[::97]):
            brute = starts[np.searchsorted(starts, sample, side="right") - 1]
            assert (tiled_bucket_starts(sample, tf, alignment) == brute).all()
        assert (bucket_ends(starts[:-1], tf, alignment) == starts[1:]).all()
        assert (bucket_chain(int(starts[0]), starts.shape[0], tf, alignment) == starts).all()
        m = starts.shape[0] - 1
        found, owner = bucket_range(starts[[0, 1, 2]], starts[[m, m // 2, 2]], tf, alignment)
        assert found.tolist() == starts[:m].tolist() + starts[1 : m // 2].tolist()
        assert owner.tolist() == [0] * m + [1] * (m // 2 - 1)
        table = BucketTable(tf, alignment)
        for t in sample[::7].tolist():
            i = int(np.searchsorted(starts, t, side="right")) - 1
            assert table.locate(t, int(starts[0])) == (starts[i], starts[i + 1])
            assert table.end_of(int(starts[i])) == starts[i + 1]
            assert table.between(int(starts[0]), t) == starts[: np.searchsorted(starts, t)].tolist()


def test_the_second_pass_of_a_repeated_hour_stays_in_the_bucket_already_open() -> None:
    tf, alignment = parse_timeframe("30m"), BucketAlignment("America/New_York", "09:30")
    ts = np.array([utc(2024, 11, 3, 5, 40), utc(2024, 11, 3, 6, 10), utc(2024, 11, 3, 7, 1)])
    raw = bucket_starts(ts, tf, alignment)
    assert raw[1] == utc(2024, 11, 3, 5, 0)  # bucket_starts goes back in time here
    assert tiled_bucket_starts(ts, tf, alignment).tolist() == [
        utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 7)]
    assert bucket_ends(np.array([utc(2024, 11, 3, 5, 30)]), tf, alignment).tolist() == [
        utc(2024, 11, 3, 7)]


def test_sequential_segment_sums_add_left_to_right() -> None:
    rng = np.random.default_rng(6)
    values = rng.random(20_000) * 1e3
    bounds = np.sort(rng.choice(np.arange(1, 20_000), 300, replace=False))
    begins = np.concatenate(([0, 0], bounds))
    ends = np.concatenate(([0], bounds, [20_000]))  # the first segment is empty
    expected = []
    for lo, hi in zip(begins.tolist(), ends.tolist(), strict=True):
        total = 0.0
        for value in values[lo:hi].tolist():
            total += value
        expected.append(total)
    assert sequential_segment_sums(values, begins, ends).tolist() == expected
    assert sequential_segment_sums(values, begins[:0], ends[:0]).tolist() == []
