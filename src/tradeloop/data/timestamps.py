"""Vectorised parsing of timestamp columns into UTC nanoseconds.

Accepted: ISO 8601 and close relatives (``2004-08-19``, ``2017-04-19 09:00:00``,
``2017.04.19 09:00``, ``20170419``, with or without a UTC offset or ``Z``), a handful of
day-first and month-first layouts (``19.04.2017 09:00:00.000``, ``04/19/2017``,
``19-Apr-2017``), datetime columns (Parquet) and numeric epochs. The layout is chosen once, from
the first rows, and applied to the whole column.

Numeric epochs are seconds, milliseconds, microseconds or nanoseconds by the magnitude of their
median: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, otherwise
nanoseconds; they are always UTC. Whole numbers from 19000101 to 21001231 are ``YYYYMMDD`` dates,
not epochs (as epoch seconds they would all fall in August 1970). Naive date-times are read in
the given IANA timezone; aware ones are converted to UTC.

A file must use one timezone (:func:`check_single_timezone`): a text column that mixes local
times with UTC offsets, or whose offsets differ by more than the one hour daylight saving gives,
is rejected, because no row-by-row repair can tell which rows are right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from tradeloop.core.errors import DataError
from tradeloop.data.validation import (
    TS_MISSING,
    TS_NONEXISTENT,
    TS_OK,
    TS_UNPARSEABLE,
    CodeArray,
)
from tradeloop.model.data import IntArray

_ISO = "ISO8601"
_FORMATS = (
    "%d.%m.%Y %H:%M:%S.%f",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y%m%d %H%M%S",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
)
_NUMERIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_YYYYMMDD = re.compile(r"^(19|20|21)\d{6}$")
_AWARE = r"(?:Z|[+-]\d{2}:?\d{2})$"
_SAMPLE = 200
_INT64_MAX = float(np.iinfo(np.int64).max)
_EPOCH_UNITS = ((1e11, 1_000_000_000, "seconds"), (1e14, 1_000_000, "milliseconds"),
                (1e17, 1_000, "microseconds"))
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$|^\d{4,6}$")
_OFFSET = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}:?\d{2})$"
_OFFSET_SUFFIX = re.compile(r"([Zz])$|([+-])(\d{2}):?(\d{2})$")
_OFFSET_TAIL = 6  # the longest suffix, "+01:00"
_DST_SPAN_MINUTES = 60


@dataclass(frozen=True, slots=True)
class ParsedTimes:
    """The result of parsing one timestamp column.

    Attributes
    ----------
    ns : ndarray of int64
        UTC nanoseconds; 0 where ``status`` is not ``TS_OK``.
    status : ndarray of int8
        ``TS_OK``, ``TS_MISSING``, ``TS_UNPARSEABLE`` or ``TS_NONEXISTENT`` per row.
    notes : list of str
        How the column was read, when that is not obvious (epoch unit, ambiguous layout).
    """

    ns: IntArray
    status: CodeArray
    notes: list[str] = field(default_factory=list)


def looks_like_time_of_day(values: pd.Series) -> bool:
    """Return True when the first non-empty cells of ``values`` are times of day.

    Parameters
    ----------
    values : Series
        A column, e.g. MetaTrader's ``<TIME>`` (``09:00`` or ``09:00:00``) or ``093000``.

    Returns
    -------
    bool
    """
    sample = values.dropna().head(_SAMPLE).astype(str).str.strip()
    sample = sample[sample != ""]
    return bool(len(sample)) and bool(sample.str.match(_TIME_OF_DAY).all())


def combine_date_time(date: pd.Series, time: pd.Series) -> pd.Series:
    """Join a date column and a time-of-day column into one text column.

    Parameters
    ----------
    date, time : Series
        Same length; a row missing either part is missing in the result.

    Returns
    -------
    Series of str
    """
    d = date.astype("str").str.strip()
    t = time.astype("str").str.strip()
    joined = d + " " + t
    return joined.where(date.notna() & time.notna())


def timestamp_column(
    frame: pd.DataFrame, time: str | None, date: str | None, clock: str | None
) -> pd.Series:
    """Pick the timestamps of a frame: one column, or a date column joined with a time column.

    Parameters
    ----------
    frame : DataFrame
    time : str, optional
        The single timestamp column; when None, ``date`` and ``clock`` must both be given.
    date, clock : str, optional
        A date column and a time-of-day column (see :func:`combine_date_time`).

    Returns
    -------
    Series
        Positionally indexed from 0.
    """
    if time is not None:
        return frame[time].reset_index(drop=True)
    assert date is not None and clock is not None
    return combine_date_time(frame[date], frame[clock]).reset_index(drop=True)


def _offset_minutes(aware: pa.Array) -> npt.NDArray[np.int64]:
    # few distinct endings in a file: parse each once, then look them up
    tails = pc.utf8_slice_codeunits(aware, -_OFFSET_TAIL).dictionary_encode()
    minutes = []
    for tail in tails.dictionary.to_pylist():
        match = _OFFSET_SUFFIX.search(tail)
        assert match is not None  # the rows were selected by _OFFSET
        _, sign, hours, mins = match.groups()
        size = 0 if sign is None else int(hours) * 60 + int(mins)
        minutes.append(-size if sign == "-" else size)
    lookup = np.asarray(minutes, dtype=np.int64)
    indices = np.asarray(tails.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    return lookup[indices]


def _format_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def offset_problem(times: pd.Series, rows: IntArray) -> tuple[int, str] | None:
    """Find the first row of a timestamp column that breaks the one-timezone rule.

    Parameters
    ----------
    times : Series
        The timestamp column as read (text is checked; numbers and datetimes pass).
    rows : ndarray of int64
        The spreadsheet row number of each entry, for the message.

    Returns
    -------
    tuple of (int, str) or None
        The row and the reason, or None when the column uses one timezone: all local times,
        or all with a UTC offset taking at most two values at most one hour apart (a timezone
        with daylight saving).
    """
    if is_numeric_dtype(times.dtype) or is_datetime64_any_dtype(times.dtype):
        return None
    text = times.reset_index(drop=True).astype("string").str.strip()
    present = (text.notna() & (text != "")).to_numpy(dtype=np.bool_, na_value=False)
    values = pa.array(text, type=pa.large_string(), from_pandas=True)
    matched = pc.fill_null(pc.match_substring_regex(values, _OFFSET), False)
    aware = matched.to_numpy(zero_copy_only=False).astype(np.bool_)
    naive = present & ~aware
    if not aware.any():
        return None
    if naive.any():
        first_aware, first_naive = int(np.argmax(aware)), int(np.argmax(naive))
        first, odd = min(first_aware, first_naive), max(first_aware, first_naive)
        has, lacks = ("has", "has no") if odd == first_aware else ("has no", "has")
        return int(rows[odd]), (
            f"timestamp {text.iloc[odd]!r} {has} UTC offset but row {int(rows[first])} "
            f"({text.iloc[first]!r}) {lacks}: a file must not mix local times with UTC offsets"
        )
    positions = np.flatnonzero(aware)
    offsets = _offset_minutes(values.filter(matched))
    span = np.maximum.accumulate(offsets) - np.minimum.accumulate(offsets)
    bad = np.flatnonzero(span > _DST_SPAN_MINUTES)
    _, first_seen = np.unique(offsets, return_index=True)
    candidates = [int(bad[0])] if bad.shape[0] else []
    if first_seen.shape[0] > 2:
        candidates.append(int(np.sort(first_seen)[2]))
    if not candidates:
        return None
    at = min(candidates)
    seen = ", ".join(_format_offset(int(o)) for o in dict.fromkeys(offsets[:at].tolist()))
    position = int(positions[at])
    return int(rows[position]), (
        f"timestamp {text.iloc[position]!r} has UTC offset {_format_offset(int(offsets[at]))} "
        f"but earlier rows use {seen}: a file must use one timezone (two offsets one hour "
        "apart, as daylight saving gives, are accepted)"
    )


def check_single_timezone(times: pd.Series, rows: IntArray, source: str) -> None:
    """Reject a timestamp column that mixes timezones (see :func:`offset_problem`).

    :func:`parse_timestamps` converts every aware timestamp to UTC and reads naive ones in the
    given timezone, so a column mixing the two (or mixing unrelated offsets) would parse
    without complaint; the loaders call this first, whatever their repair policy.

    Parameters
    ----------
    times : Series
        The timestamp column as read.
    rows : ndarray of int64
        The spreadsheet row number of each entry.
    source : str
        The path as the caller gave it; starts the message.

    Raises
    ------
    DataError
        ``"{source}: row {row}: {reason}"``.
    """
    problem = offset_problem(times, rows)
    if problem is not None:
        raise DataError(f"{source}: row {problem[0]}: {problem[1]}")


def read_timestamps(
    frame: pd.DataFrame,
    columns: tuple[str | None, str | None, str | None],
    rows: IntArray,
    source: str,
    timezone: str,
) -> tuple[pd.Series, ParsedTimes]:
    """Pick a file's timestamps, check that they use one timezone and parse them.

    Parameters
    ----------
    frame : DataFrame
        The file's columns as read.
    columns : tuple of (str or None, str or None, str or None)
        The single timestamp column, or None and a date column and a time-of-day column
        (see :func:`timestamp_column`).
    rows : ndarray of int64
        The spreadsheet row number of each row of ``frame``.
    source : str
        The path as the caller gave it; starts the message.
    timezone : str
        A valid IANA name; naive date-times are taken in it.

    Returns
    -------
    tuple of (Series, ParsedTimes)
        The timestamps as written (positionally indexed from 0) and as parsed.

    Raises
    ------
    DataError
        The timestamps mix timezones (see :func:`check_single_timezone`).
    """
    times = timestamp_column(frame, *columns)
    check_single_timezone(times, rows, source)
    return times, parse_timestamps(times, timezone)


def _finish_naive(
    idx: pd.DatetimeIndex, status: CodeArray, timezone: str, notes: list[str]
) -> IntArray:
    if timezone != "UTC":
        try:
            idx = idx.tz_localize(timezone, ambiguous="infer", nonexistent="NaT")
        except (ValueError, TypeError):
            idx = idx.tz_localize(
                timezone, ambiguous=np.ones(len(idx), dtype=np.bool_), nonexistent="NaT"
            )
            notes.append(
                f"some local times are ambiguous in {timezone} (clocks set back); "
                "read as the first (daylight-saving) occurrence"
            )
        nat = np.asarray(idx.isna())
        status[(status == TS_OK) & nat] = TS_NONEXISTENT
        idx = idx.tz_convert("UTC")
    return _index_ns(idx, status)


def _index_ns(idx: pd.DatetimeIndex, status: CodeArray) -> IntArray:
    try:
        idx = idx.as_unit("ns")
    except (OverflowError, ValueError):
        years = np.asarray(idx.year)
        outside = (years < 1678) | (years > 2261)
        status[(status == TS_OK) & outside] = TS_UNPARSEABLE
        idx = pd.DatetimeIndex(idx.where(~outside)).as_unit("ns")
    ns = np.asarray(idx.asi8, dtype=np.int64).copy()
    ns[status != TS_OK] = 0
    return ns


def _from_datetimes(
    idx: pd.DatetimeIndex, status: CodeArray, timezone: str, notes: list[str]
) -> IntArray:
    nat = np.asarray(idx.isna())
    status[(status == TS_OK) & nat] = TS_UNPARSEABLE
    if idx.tz is None:
        return _finish_naive(idx, status, timezone, notes)
    return _index_ns(idx.tz_convert("UTC"), status)


def _from_epoch(
    values: np.ndarray, status: CodeArray, timezone: str, notes: list[str]
) -> IntArray:
    ok = status == TS_OK
    as_float = values.astype(np.float64)
    finite = np.isfinite(as_float)
    status[ok & ~finite] = TS_UNPARSEABLE
    ok = status == TS_OK
    ns = np.zeros(values.shape[0], dtype=np.int64)
    if not ok.any():
        return ns
    magnitude = float(np.median(np.abs(as_float[ok])))
    factor, unit = 1, "nanoseconds"
    for limit, unit_factor, unit_name in _EPOCH_UNITS:
        if magnitude < limit:
            factor, unit = unit_factor, unit_name
            break
    too_big = np.abs(as_float) >= _INT64_MAX / factor
    status[ok & too_big] = TS_UNPARSEABLE
    ok = status == TS_OK
    if is_integer_dtype(values.dtype):
        ns[ok] = values[ok].astype(np.int64) * factor
    else:
        ns[ok] = np.rint(as_float[ok] * factor).astype(np.int64)
    notes.append(f"timestamps read as Unix epoch {unit} (UTC)")
    if timezone != "UTC":
        notes.append(f"timezone {timezone} ignored: epoch timestamps are UTC")
    return ns


def _pick_format(sample: pd.Series, notes: list[str]) -> str | None:
    results: list[tuple[str, int, pd.Series]] = []
    for fmt in (_ISO, *_FORMATS):
        try:
            parsed = pd.to_datetime(sample, format=fmt, errors="coerce", utc=fmt == _ISO)
        except ValueError:
            continue
        count = int(parsed.notna().sum())
        if fmt == _ISO and count == len(sample):
            return fmt
        results.append((fmt, count, parsed))
    best, best_count, best_parsed = max(results, key=lambda r: r[1])
    if best_count == 0:
        return None
    rivals = [
        fmt for fmt, count, parsed in results
        if fmt != best and count == best_count and not parsed.equals(best_parsed)
    ]
    if rivals:
        notes.append(
            f"date layout is ambiguous in the first rows ({best} or {rivals[0]}); read as {best}"
        )
    return best


def _parse_text(
    text: pd.Series, status: CodeArray, timezone: str, notes: list[str]
) -> IntArray:
    n = len(text)
    positions = np.flatnonzero(status[: _SAMPLE * 50] == TS_OK)[:_SAMPLE]
    if positions.shape[0] == 0:
        positions = np.flatnonzero(status == TS_OK)[:_SAMPLE]
    if positions.shape[0] == 0:
        return np.zeros(n, dtype=np.int64)
    present = text.iloc[positions]
    first = str(present.iloc[0])
    if _NUMERIC.match(first) and not _YYYYMMDD.match(first):
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.all(np.isnan(numbers) | (numbers == np.floor(numbers))) and np.nanmax(
            np.abs(numbers), initial=0.0
        ) < 2.0**53:
            as_int = np.where(np.isnan(numbers), 0, numbers).astype(np.int64)
            status[(status == TS_OK) & np.isnan(numbers)] = TS_UNPARSEABLE
            return _from_epoch(as_int, status, timezone, notes)
        return _from_epoch(numbers, status, timezone, notes)
    fmt = _pick_format(present, notes)
    if fmt is None:
        status[status == TS_OK] = TS_UNPARSEABLE
        return np.zeros(n, dtype=np.int64)
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:
        return _parse_mixed(text, status, timezone, notes)
    return _from_datetimes(pd.DatetimeIndex(parsed), status, timezone, notes)


def _parse_mixed(
    text: pd.Series, status: CodeArray, timezone: str, notes: list[str]
) -> IntArray:
    aware = text.str.contains(_AWARE, regex=True).to_numpy(dtype=np.bool_, na_value=False)
    ns = np.zeros(len(text), dtype=np.int64)
    aware_idx = pd.DatetimeIndex(
        pd.to_datetime(text[aware], format=_ISO, errors="coerce", utc=True)
    )
    sub_status = status[aware].copy()
    ns[aware] = _from_datetimes(aware_idx, sub_status, timezone, notes)
    status[aware] = sub_status
    naive_idx = pd.DatetimeIndex(pd.to_datetime(text[~aware], format=_ISO, errors="coerce"))
    sub_status = status[~aware].copy()
    ns[~aware] = _from_datetimes(naive_idx, sub_status, timezone, notes)
    status[~aware] = sub_status
    if aware.any() and (~aware & (status != TS_MISSING)).any():
        notes.append(f"timestamps mix UTC offsets and local times; local ones read in {timezone}")
    return ns


def _is_yyyymmdd(values: pd.Series, missing: npt.NDArray[np.bool_]) -> bool:
    if not is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype) or missing.all():
        return False
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)[~missing]
    return bool(
        np.all(numbers == np.floor(numbers))
        and numbers.min() >= 19000101
        and numbers.max() <= 21001231
    )


def parse_timestamps(values: pd.Series, timezone: str = "UTC") -> ParsedTimes:
    """Parse a timestamp column into UTC nanoseconds, row by row status included.

    Parameters
    ----------
    values : Series
        Text, datetime64 (naive or aware) or numeric epoch values.
    timezone : str, default "UTC"
        A valid IANA name; naive date-times are taken in it.

    Returns
    -------
    ParsedTimes
        Never raises for bad cells: they are flagged in ``status``.
    """
    values = values.reset_index(drop=True)
    n = len(values)
    notes: list[str] = []
    missing = values.isna().to_numpy(dtype=np.bool_, copy=True)
    if is_datetime64_any_dtype(values.dtype):
        status = np.where(missing, TS_MISSING, TS_OK).astype(np.int8)
        ns = _from_datetimes(pd.DatetimeIndex(values), status, timezone, notes)
    elif _is_yyyymmdd(values, missing):
        text = values.astype("Int64").astype("str")
        status = np.where(missing, TS_MISSING, TS_OK).astype(np.int8)
        ns = _parse_text(text, status, timezone, notes)
    elif is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype):
        status = np.where(missing, TS_MISSING, TS_OK).astype(np.int8)
        raw = values.to_numpy(dtype=np.float64 if missing.any() else None)
        ns = _from_epoch(np.asarray(raw), status, timezone, notes)
    else:
        text = values.astype("str").str.strip()
        missing |= (text == "").to_numpy(dtype=np.bool_, na_value=True)
        status = np.where(missing, TS_MISSING, TS_OK).astype(np.int8)
        ns = _parse_text(text, status, timezone, notes)
    ns[status != TS_OK] = 0
    if n == 0:
        ns = np.zeros(0, dtype=np.int64)
    return ParsedTimes(ns, status, notes)
