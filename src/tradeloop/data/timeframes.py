"""Bar lengths ("1m", "4h", "1d") and the buckets that time bars fall into.

A bucket is labelled by its open time in UTC nanoseconds, like every bar. Intraday buckets are
aligned to UTC midnight by default, or to a local time of day (a session open such as 09:30 in
New York) in any IANA timezone; daily and weekly buckets start at a configurable daily boundary
(17:00 New York for FX), with daylight saving handled by the timezone database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import (
    NANOS_PER_DAY,
    NANOS_PER_HOUR,
    NANOS_PER_MINUTE,
    NANOS_PER_SECOND,
    timeframe_label,
)
from tradeloop.model.data import BarSeries

IntArray = npt.NDArray[np.int64]
NANOS_PER_WEEK = 7 * NANOS_PER_DAY
_UNITS = {
    "s": NANOS_PER_SECOND,
    "m": NANOS_PER_MINUTE,
    "h": NANOS_PER_HOUR,
    "d": NANOS_PER_DAY,
    "w": NANOS_PER_WEEK,
}
_ALIASES = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "m", "mins": "m", "minute": "m", "minutes": "m", "t": "m",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "d", "days": "d", "daily": "d",
    "wk": "w", "week": "w", "weeks": "w", "weekly": "w",
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday
_PLAIN = re.compile(r"^(\d+)\s*([a-z]+)$")
_MT = re.compile(r"^(MN|[SMHDW])(\d+)$")  # MetaTrader spelling: M1, M15, H1, H4, D1, W1


@dataclass(frozen=True, slots=True, order=True)
class Timeframe:
    """A fixed bar length.

    Attributes
    ----------
    ns : int
        The length in nanoseconds, positive.
    """

    ns: int

    def __post_init__(self) -> None:
        if self.ns <= 0:
            raise ValueError(f"a timeframe must be positive, got {self.ns} ns")

    @property
    def label(self) -> str:
        """The canonical spelling: the largest whole unit, such as ``"90m"``, ``"4h"``, ``"1d"``."""
        return timeframe_label(self.ns)

    @property
    def is_intraday(self) -> bool:
        """True for lengths under a day."""
        return self.ns < NANOS_PER_DAY

    def __str__(self) -> str:
        return self.label


def parse_timeframe(text: str | int | Timeframe) -> Timeframe:
    """Read a bar length.

    Parameters
    ----------
    text : str, int or Timeframe
        ``"30s"``, ``"1m"``, ``"5min"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"``, MetaTrader's
        ``"M15"``, ``"H1"``, ``"D1"``, or a number of nanoseconds.

    Raises
    ------
    ConfigError
        For anything else, with the accepted spellings.
    """
    if isinstance(text, Timeframe):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise ConfigError(f"timeframe must be positive, got {text} ns")
        return Timeframe(text)
    raw = str(text).strip()
    mt = _MT.match(raw.upper())
    if mt and mt.group(1) != "MN":
        count, unit = int(mt.group(2)), mt.group(1).lower()
    else:
        plain = _PLAIN.match(raw.lower())
        unit_text = plain.group(2) if plain else ""
        unit = _ALIASES.get(unit_text, unit_text)
        if plain is None or unit not in _UNITS:
            raise ConfigError(
                f"unknown timeframe {raw!r}: use a count and a unit, such as 30s, 1m, 5m, 1h, "
                "4h, 1d or 1w (MetaTrader's M5, H1 and D1 work too); months are not fixed "
                "lengths and are not supported"
            )
        count = int(plain.group(1))
    if count <= 0:
        raise ConfigError(f"timeframe {raw!r} must be longer than zero")
    return Timeframe(count * _UNITS[unit])


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    """The IANA timezone ``name``.

    Raises
    ------
    ConfigError
        For an unknown name, with an example of a good one.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}: use an IANA name such as "
                          "'America/New_York' or 'UTC'") from None


def parse_time_of_day(text: str | time) -> int:
    """Nanoseconds after midnight of ``"HH:MM"`` or ``"HH:MM:SS"``.

    Raises
    ------
    ConfigError
        For a malformed time.
    """
    if isinstance(text, time):
        return ((text.hour * 60 + text.minute) * 60 + text.second) * NANOS_PER_SECOND
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", str(text).strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59 or int(
        match.group(3) or 0
    ) > 59:
        raise ConfigError(f"time of day {text!r}: use HH:MM or HH:MM:SS, such as 17:00")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * NANOS_PER_SECOND


@dataclass(frozen=True, slots=True)
class BucketAlignment:
    """Where time buckets start.

    Attributes
    ----------
    timezone : str
        IANA timezone in which ``anchor`` is read; daylight saving moves the UTC start.
    anchor : str
        Local time of day at which buckets are aligned: the daily boundary for daily and weekly
        bars (``"17:00"`` with ``"America/New_York"`` for FX), or a session open for intraday
        bars (``"09:30"``). Intraday buckets tile the day from that time.
    week_start : str
        The weekday weekly buckets start on (at ``anchor``); FX weeks start on Sunday at 17:00.
    """

    timezone: str = "UTC"
    anchor: str = "00:00"
    week_start: str = "monday"

    def __post_init__(self) -> None:
        zone_info(self.timezone)
        parse_time_of_day(self.anchor)
        if self.week_start.lower() not in _WEEKDAYS:
            raise ConfigError(f"week_start {self.week_start!r}: use a weekday such as 'monday'")

    @property
    def is_utc_midnight(self) -> bool:
        """True for the default: buckets aligned to UTC midnight, weeks from Monday."""
        return (self.timezone in ("UTC", "Etc/UTC") and parse_time_of_day(self.anchor) == 0
                and self.week_start.lower() == "monday")


UTC_MIDNIGHT = BucketAlignment()


def bar_step_ns(series: BarSeries) -> int:
    """The bar length of a series: its declared timeframe, else the median step between bars,
    else a day. Backtests and replays deliver each bar this long after its open."""
    if series.timeframe_ns:
        return series.timeframe_ns
    if len(series) > 1:
        return int(np.median(np.diff(series.ts)))
    return NANOS_PER_DAY


def _floor(values: IntArray, size: int, origin: int) -> IntArray:
    return (values - origin) // size * size + origin


def bucket_starts(
    ts: IntArray, timeframe: Timeframe, alignment: BucketAlignment = UTC_MIDNIGHT
) -> IntArray:
    """The open time of the bucket each timestamp falls in.

    Parameters
    ----------
    ts : ndarray of int64
        UTC nanoseconds, in any order.
    timeframe : Timeframe
    alignment : BucketAlignment, optional
        UTC midnight by default.

    Returns
    -------
    ndarray of int64
        For each ``ts``, the UTC open time of its bucket (``start <= ts < next start``).

    Notes
    -----
    Without a timezone the arithmetic is pure integer flooring. With one, timestamps are moved
    to local wall-clock time, floored there, and the distinct starts are moved back to UTC; a
    start that falls into a daylight-saving gap moves to the first valid instant after it, and
    an ambiguous one takes the first of its two instants, so an intraday bucket aligned in local
    time spans the repeated hour when clocks go back.
    """
    ts = np.asarray(ts, dtype=np.int64)
    size = timeframe.ns
    anchor = parse_time_of_day(alignment.anchor)
    week_origin = ((_WEEKDAYS.index(alignment.week_start.lower()) - _EPOCH_WEEKDAY) % 7) * (
        NANOS_PER_DAY
    )
    origin = anchor + (week_origin if size % NANOS_PER_WEEK == 0 else 0)
    if alignment.timezone in ("UTC", "Etc/UTC") or ts.shape[0] == 0:
        return _floor(ts, size, origin)
    zone = alignment.timezone
    local = _to_local(ts, zone)
    starts_local = _floor(local, size, origin)
    unique, inverse = np.unique(starts_local, return_inverse=True)
    back = _from_local(unique, zone)
    return np.asarray(back[inverse.reshape(-1)], dtype=np.int64)


def _to_local(ts: IntArray, zone: str) -> IntArray:
    import pandas as pd  # only local alignment needs it; the kernel imports this module

    index = pd.DatetimeIndex(ts.view("M8[ns]"), tz="UTC").tz_convert(zone_info(zone).key)
    return np.asarray(index.tz_localize(None).asi8, dtype=np.int64)


def _from_local(local: IntArray, zone: str) -> IntArray:
    import pandas as pd

    index = pd.DatetimeIndex(local.view("M8[ns]")).tz_localize(
        zone_info(zone).key, ambiguous=np.ones(local.shape[0], dtype=bool),
        nonexistent="shift_forward",
    )
    return np.asarray(index.asi8, dtype=np.int64)


__all__ = [
    "NANOS_PER_WEEK",
    "UTC_MIDNIGHT",
    "BucketAlignment",
    "Timeframe",
    "bar_step_ns",
    "bucket_starts",
    "parse_time_of_day",
    "parse_timeframe",
    "zone_info",
]
