"""Bar lengths and the buckets bars fall into: UTC alignment, local anchors across daylight
saving, FX daily and weekly boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_HOUR, NANOS_PER_MINUTE
from tradeloop.data.timeframes import (
    BucketAlignment,
    Timeframe,
    bucket_starts,
    parse_time_of_day,
    parse_timeframe,
)

HOUR = NANOS_PER_HOUR
FX_DAY = BucketAlignment("America/New_York", "17:00")


def utc(*stamps: str) -> np.ndarray:
    return pd.to_datetime(list(stamps), format="ISO8601").tz_localize("UTC").as_unit("ns").asi8


def in_new_york(values: np.ndarray) -> list[str]:
    index = pd.DatetimeIndex(values.view("M8[ns]"), tz="UTC").tz_convert("America/New_York")
    return list(index.strftime("%a %Y-%m-%d %H:%M %z"))


@pytest.mark.parametrize(
    ("text", "label", "ns"),
    [
        ("1m", "1m", NANOS_PER_MINUTE), ("5min", "5m", 5 * NANOS_PER_MINUTE),
        ("60m", "1h", HOUR), ("H4", "4h", 4 * HOUR), ("M15", "15m", 15 * NANOS_PER_MINUTE),
        ("D1", "1d", 24 * HOUR), ("1 day", "1d", 24 * HOUR), ("90m", "90m", 90 * NANOS_PER_MINUTE),
        ("30s", "30s", 30 * 10**9), ("1w", "1w", 7 * 24 * HOUR), ("2H", "2h", 2 * HOUR),
    ],
)
def test_spellings(text: str, label: str, ns: int) -> None:
    frame = parse_timeframe(text)
    assert (frame.label, frame.ns, str(frame)) == (label, ns, label)
    assert parse_timeframe(frame) is frame and parse_timeframe(ns) == frame


@pytest.mark.parametrize("text", ["1mo", "0m", "fast", "m", "-1h", "1.5h", "MN1"])
def test_bad_spellings_teach(text: str) -> None:
    with pytest.raises(ConfigError, match="timeframe"):
        parse_timeframe(text)


def test_times_of_day() -> None:
    assert parse_time_of_day("17:00") == 17 * HOUR
    assert parse_time_of_day("09:30:15") == 9 * HOUR + 30 * NANOS_PER_MINUTE + 15 * 10**9
    for bad in ("24:00", "9h", "12:60", ""):
        with pytest.raises(ConfigError, match="HH:MM"):
            parse_time_of_day(bad)


def test_bad_alignment_settings() -> None:
    with pytest.raises(ConfigError, match="unknown timezone 'Mars/Olympus'"):
        BucketAlignment("Mars/Olympus")
    with pytest.raises(ConfigError, match="weekday"):
        BucketAlignment(week_start="someday")


def test_utc_buckets_are_integer_floors() -> None:
    ts = utc("2024-01-02 00:00", "2024-01-02 03:59:59", "2024-01-02 04:00", "2024-01-02 23:00")
    starts = bucket_starts(ts, parse_timeframe("4h"))
    assert starts.tolist() == utc("2024-01-02 00:00", "2024-01-02 00:00", "2024-01-02 04:00",
                                  "2024-01-02 20:00").tolist()


def test_fx_daily_bars_start_at_five_pm_new_york_on_both_sides_of_dst() -> None:
    # EST (UTC-5) before 2024-03-10, EDT (UTC-4) after
    ts = utc("2024-03-08 21:59", "2024-03-08 22:00", "2024-03-11 20:59", "2024-03-11 21:00")
    assert in_new_york(bucket_starts(ts, parse_timeframe("1d"), FX_DAY)) == [
        "Thu 2024-03-07 17:00 -0500", "Fri 2024-03-08 17:00 -0500",
        "Sun 2024-03-10 17:00 -0400", "Mon 2024-03-11 17:00 -0400",
    ]


def test_fx_weeks_start_sunday_five_pm() -> None:
    weekly = BucketAlignment("America/New_York", "17:00", "sunday")
    ts = utc("2024-03-08 21:00", "2024-03-10 21:30", "2024-11-03 23:00")
    assert in_new_york(bucket_starts(ts, parse_timeframe("1w"), weekly)) == [
        "Sun 2024-03-03 17:00 -0500", "Sun 2024-03-10 17:00 -0400", "Sun 2024-11-03 17:00 -0500",
    ]
    monday = bucket_starts(utc("2024-03-08 21:00"), parse_timeframe("1w"))
    assert monday.tolist() == utc("2024-03-04 00:00").tolist()


def test_intraday_buckets_aligned_to_a_session_open() -> None:
    session = BucketAlignment("America/New_York", "09:30")
    ts = utc("2024-03-08 14:30", "2024-03-08 15:29", "2024-03-11 13:30", "2024-03-11 14:45")
    assert in_new_york(bucket_starts(ts, parse_timeframe("1h"), session)) == [
        "Fri 2024-03-08 09:30 -0500", "Fri 2024-03-08 09:30 -0500",
        "Mon 2024-03-11 09:30 -0400", "Mon 2024-03-11 10:30 -0400",
    ]


@given(st.lists(st.integers(1_600_000_000 * 10**9, 1_800_000_000 * 10**9), min_size=1,
                max_size=50),
       st.sampled_from(["1m", "15m", "1h", "4h", "1d"]),
       st.sampled_from([BucketAlignment(), FX_DAY, BucketAlignment("Europe/London", "08:00"),
                        BucketAlignment("Asia/Tokyo", "09:00")]))
def test_every_timestamp_lies_in_its_bucket(
    stamps: list[int], text: str, alignment: BucketAlignment
) -> None:
    frame = parse_timeframe(text)
    ts = np.array(stamps, dtype=np.int64)
    starts = bucket_starts(ts, frame, alignment)
    assert (starts <= ts).all()
    # a bucket lasts its length, give or take the hour that daylight saving adds or takes
    assert (ts - starts < frame.ns + HOUR).all()
    # the same start for the same bucket, wherever a timestamp sits in it
    again = bucket_starts(starts, frame, alignment)
    assert (again == starts).all()


def test_timeframe_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Timeframe(0)
