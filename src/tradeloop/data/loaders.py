"""Loading OHLCV bars from CSV and Parquet files into a validated :class:`BarSeries`.

CSV files may use a comma, semicolon, tab or pipe between fields (sniffed from the header line),
a decimal comma when the delimiter is not a comma, and UTF-8 or UTF-16 (MetaTrader) text. Row
numbers in messages are those a spreadsheet shows: the header is row 1, the first data row row 2;
blank lines are skipped but keep their numbers. Parquet records are numbered the same way: the
first record is row 2. Files are only read, never modified (see :mod:`tradeloop.data.reading`).

A file must use one timezone: text timestamps that mix local times with UTC offsets, or whose
offsets differ by more than the one hour daylight saving gives, are rejected even with
``repair`` (see :func:`tradeloop.data.timestamps.check_single_timezone`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeloop.data import reading
from tradeloop.data.columns import ColumnMap, normalise, resolve_columns
from tradeloop.data.timestamps import looks_like_time_of_day, read_timestamps
from tradeloop.data.validation import (
    TS_MISSING,
    RawBars,
    ValidationReport,
    check_bars,
)
from tradeloop.model.data import BarSeries, FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Bars loaded from a file, with the report of what validation found and did.

    Attributes
    ----------
    bars : BarSeries
        Sorted, unique, finite, positive bars in UTC.
    report : ValidationReport
        Counts of dropped and sorted rows (with ``repair=True``), gaps and notes.
    """

    bars: BarSeries
    report: ValidationReport


@dataclass(frozen=True, slots=True)
class _Table:
    frame: pd.DataFrame
    rows: IntArray
    columns: ColumnMap
    notes: list[str]


def _read_table(path: Path, source: str) -> _Table:
    columns, notes = _resolve(reading.read_head(path, source), source)
    # a single time column keeps its inferred type (epoch numbers stay numbers); a date and a
    # time-of-day column are read as text so that "093000" keeps its leading zero
    text_columns = [c for c in (columns.date, columns.clock) if c is not None]
    read = reading.read_columns(path, source, columns.used(), text_columns)
    return _Table(read.frame, read.rows, columns, notes + read.notes)


def _resolve(frame: pd.DataFrame, source: str) -> tuple[ColumnMap, list[str]]:
    by_norm = {normalise(c): c for c in reversed(list(frame.columns))}
    clock = None
    if "date" in by_norm and "time" in by_norm:
        clock = looks_like_time_of_day(frame[by_norm["time"]])
    return resolve_columns(list(frame.columns), source, time_is_clock=clock)


def _volume(
    frame: pd.DataFrame, candidates: list[str], notes: list[str]
) -> tuple[FloatArray, pd.Series | None]:
    if not candidates:
        notes.append("no volume column: volume set to 0")
        return np.zeros(len(frame), dtype=np.float64), None
    parsed = [reading.numeric_values(frame[name]) for name in candidates]
    for name, (values, text) in zip(candidates, parsed, strict=True):
        if np.any(np.isfinite(values) & (values != 0)):
            if name != candidates[0]:
                notes.append(f"volume read from {name!r} ({candidates[0]!r} is all zero)")
            return values, text
    return parsed[0]


def _raw_bars(table: _Table, timezone: str, source: str) -> tuple[RawBars, list[str]]:
    frame, cols = table.frame, table.columns
    notes = list(table.notes)
    columns = (cols.time, cols.date, cols.clock)
    times, parsed = read_timestamps(frame, columns, table.rows, source, timezone)
    notes.extend(parsed.notes)
    fields: dict[str, FloatArray] = {}
    text: dict[str, pd.Series] = {}
    for name, column in cols.prices.items():
        fields[name], maybe_text = reading.numeric_values(frame[column])
        if maybe_text is not None:
            text[name] = maybe_text
    fields["volume"], volume_text = _volume(frame, cols.volumes, notes)
    if volume_text is not None:
        text["volume"] = volume_text

    blank = parsed.status == TS_MISSING
    for name in cols.prices:
        blank &= np.isnan(fields[name])
    if cols.volumes:
        blank &= np.isnan(fields["volume"])
    if not blank.any():
        raw = RawBars(
            table.rows, parsed.ns, parsed.status, times, fields, text, timezone=timezone
        )
        return raw, notes
    notes.append(f"skipped {int(blank.sum())} blank line(s)")
    keep = np.flatnonzero(~blank)
    raw = RawBars(
        rows=table.rows[keep],
        ts=parsed.ns[keep],
        ts_status=parsed.status[keep],
        ts_text=times.iloc[keep],
        fields={name: values[keep] for name, values in fields.items()},
        field_text={name: values.iloc[keep] for name, values in text.items()},
        timezone=timezone,
    )
    return raw, notes


def load_bars(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    timezone: str = "UTC",
    repair: bool = False,
) -> LoadResult:
    """Load OHLCV bars from a CSV or Parquet file, validated under an explicit policy.

    Parameters
    ----------
    path : str or path-like
        A ``.parquet`` / ``.pq`` file, or any other file read as delimited text (comma,
        semicolon, tab or pipe, sniffed from the header).
    symbol : str, optional
        The instrument; defaults to the file name without extension, upper-cased.
    timezone : str, default "UTC"
        IANA timezone of naive timestamps. Timestamps with an offset and numeric epochs are
        already absolute and ignore it.
    repair : bool, default False
        False: raise on the first bad row. True: drop bad rows, keep the first of duplicated
        timestamps, sort, and count what was done in the report.

    Returns
    -------
    LoadResult
        The bars (UTC, strictly increasing) and the validation report.

    Raises
    ------
    ConfigError
        Unknown timezone.
    DataError
        The file is missing, unreadable or lacks a required column (the message names the file,
        the columns found and the spellings accepted); timestamps mix timezones (whatever
        ``repair`` says); or, without ``repair``, a row is bad: ``"{path}: row {row}: {reason}"``.

    Notes
    -----
    Accepted column spellings (case-insensitive, MetaTrader ``<...>`` allowed): time from
    ``Date``, ``Datetime``, ``Date_time``, ``Timestamp``, ``Time``, ``ts``, ``Gmt time``,
    ``Local time``, ``Open time``, or a ``Date`` plus a time-of-day ``Time`` column; ``Open``/``o``,
    ``High``/``h``, ``Low``/``l``, ``Close``/``c`` (``Adj Close`` only when there is no close);
    volume from ``Volume``, ``Vol``, ``v``, ``Real_volume``, ``Tick_volume``, ``TickVol``,
    ``Ticks`` (a column of only zeros gives way to the next one present; no volume column at all
    gives zeros, noted in the report).

    Examples
    --------
    >>> from tradeloop.data import bundled_path, load_bars
    >>> result = load_bars(bundled_path("goog"))
    >>> len(result.bars)
    2148
    """
    reading.check_timezone_name(timezone)
    file, source = reading.existing_file(path)
    table = _read_table(file, source)
    raw, notes = _raw_bars(table, timezone, source)
    name = symbol if symbol is not None else file.stem.upper()
    bars, report = check_bars(raw, symbol=name, source=source, repair=repair, notes=notes)
    return LoadResult(bars, report)


__all__ = ["LoadResult", "load_bars"]
