"""Loading OHLCV bars from CSV and Parquet files into a validated :class:`BarSeries`.

CSV files may use a comma, semicolon, tab or pipe between fields (sniffed from the header line),
a decimal comma when the delimiter is not a comma, and UTF-8 or UTF-16 (MetaTrader) text. Row
numbers in messages are those a spreadsheet shows: the header is row 1, the first data row row 2;
blank lines are skipped but keep their numbers. Parquet records are numbered the same way: the
first record is row 2. Files are only read, never modified.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.data.columns import ColumnMap, normalise, resolve_columns
from tradeloop.data.timestamps import combine_date_time, looks_like_time_of_day, parse_timestamps
from tradeloop.data.validation import (
    TS_MISSING,
    RawBars,
    ValidationReport,
    check_bars,
)
from tradeloop.model.data import BarSeries, FloatArray, IntArray

PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 64 * 1024
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


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


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"unknown timezone {timezone!r}: use an IANA name such as 'UTC', "
            "'America/New_York' or 'Europe/London'"
        ) from exc


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    return "utf-8"


def _sniff(path: Path, source: str) -> tuple[str, str, str, int]:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace")
    lines = text.splitlines()
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    leading = 0
    while leading < len(lines) and not lines[leading].strip():
        leading += 1
    if leading == len(lines):
        raise DataError(f"{source}: the file is empty")
    header = lines[leading]
    counts = {d: header.count(d) for d in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda d: counts[d])
    decimal = "."
    if delimiter != ",":
        cells = [c for line in lines[leading + 1 : leading + 50] for c in line.split(delimiter)]
        if any(_DECIMAL_COMMA.match(c) for c in cells):
            decimal = ","
    return delimiter, decimal, encoding, leading


def _read_csv(path: Path, source: str) -> _Table:
    delimiter, decimal, encoding, leading = _sniff(path, source)
    options: dict[str, object] = {
        "sep": delimiter,
        "decimal": decimal,
        "encoding": encoding,
        "encoding_errors": "replace",
        "skiprows": leading,
        "skipinitialspace": True,
    }
    try:
        head = pd.read_csv(path, nrows=200, dtype="str", **options)  # type: ignore[call-overload]
        columns, notes = _resolve(head, source)
        # a single time column keeps its inferred type (epoch numbers stay numbers); a date and a
        # time-of-day column are read as text so that "093000" keeps its leading zero
        text_columns = [c for c in (columns.date, columns.clock) if c is not None]
        with warnings.catch_warnings():
            # a column mixing numbers and text is handled (and reported) cell by cell
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(  # type: ignore[call-overload]
                path,
                usecols=columns.used(),
                dtype=dict.fromkeys(text_columns, "str"),
                skip_blank_lines=False,
                **options,
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{source}: cannot read as CSV ({detail})") from exc
    if delimiter != ",":
        notes.append(f"fields separated by {'tab' if delimiter == chr(9) else repr(delimiter)}")
    if decimal == ",":
        notes.append("decimal comma")
    rows = np.arange(len(frame), dtype=np.int64) + leading + 2
    return _Table(frame, rows, columns, notes)


def _resolve(frame: pd.DataFrame, source: str) -> tuple[ColumnMap, list[str]]:
    by_norm = {normalise(c): c for c in reversed(list(frame.columns))}
    clock = None
    if "date" in by_norm and "time" in by_norm:
        clock = looks_like_time_of_day(frame[by_norm["time"]])
    return resolve_columns(list(frame.columns), source, time_is_clock=clock)


def _parquet_failure(source: str, exc: Exception) -> DataError:
    text = " ".join(str(exc).split())
    text = re.sub(r"^Could not open Parquet input source '[^']*':\s*", "", text)
    if "magic bytes not found" in text:
        reason = "no Parquet footer: the file is truncated or is not a Parquet file"
    elif "file size is 0 bytes" in text:
        reason = "the file is empty"
    else:
        reason = text or type(exc).__name__
    return DataError(f"{source}: cannot read as Parquet ({reason})")


def _read_parquet(path: Path, source: str) -> _Table:
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise _parquet_failure(source, exc) from exc
    if not isinstance(frame.index, pd.RangeIndex):
        index_name = frame.index.name
        frame = frame.reset_index()
        if index_name is None and is_datetime64_any_dtype(frame["index"].dtype):
            frame = frame.rename(columns={"index": "timestamp"})
    columns, notes = _resolve(frame, source)
    frame = frame[columns.used()].reset_index(drop=True)
    rows = np.arange(len(frame), dtype=np.int64) + 2
    return _Table(frame, rows, columns, notes)


def _numbers(column: pd.Series) -> tuple[FloatArray, pd.Series | None]:
    if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), None
    values = pd.to_numeric(column, errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan), column


def _volume(
    frame: pd.DataFrame, candidates: list[str], notes: list[str]
) -> tuple[FloatArray, pd.Series | None]:
    if not candidates:
        notes.append("no volume column: volume set to 0")
        return np.zeros(len(frame), dtype=np.float64), None
    parsed = [_numbers(frame[name]) for name in candidates]
    for name, (values, text) in zip(candidates, parsed, strict=True):
        if np.any(np.isfinite(values) & (values != 0)):
            if name != candidates[0]:
                notes.append(f"volume read from {name!r} ({candidates[0]!r} is all zero)")
            return values, text
    return parsed[0]


def _raw_bars(table: _Table, timezone: str) -> tuple[RawBars, list[str]]:
    frame, cols = table.frame, table.columns
    notes = list(table.notes)
    if cols.time is not None:
        times = frame[cols.time]
    else:
        assert cols.date is not None and cols.clock is not None
        times = combine_date_time(frame[cols.date], frame[cols.clock])
    parsed = parse_timestamps(times, timezone)
    notes.extend(parsed.notes)
    fields: dict[str, FloatArray] = {}
    text: dict[str, pd.Series] = {}
    for name, column in cols.prices.items():
        fields[name], maybe_text = _numbers(frame[column])
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
    ts_text = times.reset_index(drop=True)
    if not blank.any():
        raw = RawBars(
            table.rows, parsed.ns, parsed.status, ts_text, fields, text, timezone=timezone
        )
        return raw, notes
    notes.append(f"skipped {int(blank.sum())} blank line(s)")
    keep = np.flatnonzero(~blank)
    raw = RawBars(
        rows=table.rows[keep],
        ts=parsed.ns[keep],
        ts_status=parsed.status[keep],
        ts_text=ts_text.iloc[keep],
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
        the columns found and the spellings accepted); or, without ``repair``, a row is bad:
        ``"{path}: row {row}: {reason}"``.

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
    source = os.fspath(path)
    _check_timezone(timezone)
    file = Path(source)
    if not file.is_file():
        raise DataError(f"{source}: {'not a file' if file.exists() else 'no such file'}")
    if file.suffix.lower() in PARQUET_SUFFIXES:
        table = _read_parquet(file, source)
    else:
        table = _read_csv(file, source)
    raw, notes = _raw_bars(table, timezone)
    name = symbol if symbol is not None else file.stem.upper()
    bars, report = check_bars(raw, symbol=name, source=source, repair=repair, notes=notes)
    return LoadResult(bars, report)


__all__ = ["LoadResult", "load_bars"]
