from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, dt_to_ns
from tradeloop.data import Gap, find_gaps, load_bars
from tradeloop.data.gaps import infer_timeframe
from tradeloop.model.data import BarSeries


def ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, tzinfo=UTC))


def series(ts: list[int], timeframe: int = 0) -> BarSeries:
    n = len(ts)
    ones = np.ones(n)
    return BarSeries("X", np.array(ts, dtype=np.int64), ones, ones, ones, ones, ones, timeframe)


def fx_hours(start: datetime, end: datetime) -> list[int]:
    """Hourly FX bars: Sunday 22:00 UTC to Friday 21:00 UTC (last bar opens 21:00)."""
    out = []
    moment = start
    while moment <= end:
        weekday, hour = moment.weekday(), moment.hour
        closed = weekday == 5 or (weekday == 4 and hour >= 22) or (weekday == 6 and hour < 22)
        if not closed:
            out.append(dt_to_ns(moment))
        moment += timedelta(hours=1)
    return out


def test_hourly_missing_weekday_hour_is_a_gap_weekend_is_not() -> None:
    # Wed 2024-01-10 .. Wed 2024-01-17, spanning the weekend of 13-14 January
    ts = fx_hours(datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 17, tzinfo=UTC))
    missing = ns(2024, 1, 11, 10)  # Thursday 10:00
    ts.remove(missing)
    gaps = find_gaps(series(ts))
    assert gaps == [Gap(ns(2024, 1, 11, 9), ns(2024, 1, 11, 11), 1)]
    assert str(gaps[0]) == (
        "1 missing bar(s) between 2024-01-11T09:00:00Z and 2024-01-11T11:00:00Z"
    )


def test_hourly_gap_reaching_into_monday_counts_only_weekday_hours() -> None:
    ts = fx_hours(datetime(2024, 1, 12, tzinfo=UTC), datetime(2024, 1, 16, tzinfo=UTC))
    # drop everything from the Sunday open up to Monday 02:00 inclusive
    ts = [t for t in ts if not ns(2024, 1, 14, 22) <= t <= ns(2024, 1, 15, 2)]
    gaps = find_gaps(series(ts, NANOS_PER_HOUR))
    # Sunday evening lies in the weekend window; Monday 00:00, 01:00, 02:00 are missing
    assert gaps == [Gap(ns(2024, 1, 12, 21), ns(2024, 1, 15, 3), 3)]


def test_several_missing_hours() -> None:
    ts = [ns(2024, 1, 10, h) for h in (0, 1, 2, 6, 7, 8, 9)]
    assert find_gaps(series(ts)) == [Gap(ns(2024, 1, 10, 2), ns(2024, 1, 10, 6), 3)]


def weekdays(start: datetime, count: int) -> list[int]:
    out: list[int] = []
    moment = start
    while len(out) < count:
        if moment.weekday() < 5:
            out.append(dt_to_ns(moment))
        moment += timedelta(days=1)
    return out


def test_daily_weekends_are_not_gaps_holidays_are() -> None:
    ts = weekdays(datetime(2024, 1, 1, tzinfo=UTC), 30)
    bars = series(ts)
    assert infer_timeframe(bars.ts) == NANOS_PER_DAY
    assert find_gaps(bars) == []
    holiday = ns(2024, 1, 15)  # a Monday (Martin Luther King day)
    ts.remove(holiday)
    assert find_gaps(series(ts)) == [Gap(ns(2024, 1, 12), ns(2024, 1, 16), 1)]
    ts.remove(ns(2024, 1, 26))  # a Friday: the step Thursday -> Monday misses one weekday
    assert find_gaps(series(ts))[1] == Gap(ns(2024, 1, 25), ns(2024, 1, 29), 1)


def test_no_gaps_for_short_series() -> None:
    assert find_gaps(series([])) == []
    assert find_gaps(series([ns(2024, 1, 1)])) == []
    assert infer_timeframe(np.array([5], dtype=np.int64)) == 0


def test_gaps_reported_by_loader(tmp_path: Path) -> None:
    ts = fx_hours(datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 17, tzinfo=UTC))
    ts.remove(ns(2024, 1, 16, 5))
    lines = ["time,open,high,low,close"]
    for t in ts:
        stamp = datetime.fromtimestamp(t // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        lines.append(f"{stamp},1.1,1.2,1.0,1.15")
    path = tmp_path / "eurusd.csv"
    path.write_text("\n".join(lines) + "\n")
    result = load_bars(path)
    assert len(result.bars) == len(ts)  # gaps are reported, never filled
    assert result.report.gaps == [Gap(ns(2024, 1, 16, 4), ns(2024, 1, 16, 6), 1)]
    assert "1 gap (1 missing bar)" in result.report.summary()
