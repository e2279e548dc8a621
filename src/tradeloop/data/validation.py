"""Validation of loaded bars, with an explicit policy: fail on the first problem, or repair.

Checks, in the order they are reported for one row: the timestamp is present, parseable and
exists in the file's timezone; no OHLCV field is NaN or infinite; prices are positive; volume is
not negative; ``high >= low``; ``open`` and ``close`` lie in ``[low, high]``; the timestamp is not
a duplicate of an earlier row's; the timestamp is not before the previous row's.

Strict (the default) raises :class:`~tradeloop.core.errors.DataError` for the problem on the
earliest row, as ``"{path}: row {row}: {reason}"``. ``row`` is the line as a spreadsheet numbers
it: the header is row 1 and the first data row is row 2 (for Parquet, the record's 1-based index
plus 1). Repair drops rows with bad values, drops later duplicates of a timestamp (the first row
in the file wins), sorts the rest by time and reports what it did; it never fills gaps and never
touches the file. Every check is vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloop.core.errors import DataError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE, ns_to_iso
from tradeloop.data.gaps import Gap, find_gaps, infer_timeframe
from tradeloop.model.data import BarSeries, FloatArray, IntArray

CodeArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]

FIELDS = ("open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")

TS_OK = 0
TS_MISSING = 1
TS_UNPARSEABLE = 2
TS_NONEXISTENT = 3

_NON_FINITE = 4
_NON_POSITIVE = 5
_NEGATIVE_VOLUME = 6
_HIGH_BELOW_LOW = 7
_OPEN_OUTSIDE = 8
_CLOSE_OUTSIDE = 9
_DUPLICATE = 10
_OUT_OF_ORDER = 11

DROP_REASONS: Mapping[int, str] = {
    TS_MISSING: "missing_timestamp",
    TS_UNPARSEABLE: "unparseable_timestamp",
    TS_NONEXISTENT: "nonexistent_local_time",
    _NON_FINITE: "non_finite_value",
    _NON_POSITIVE: "non_positive_price",
    _NEGATIVE_VOLUME: "negative_volume",
    _HIGH_BELOW_LOW: "high_below_low",
    _OPEN_OUTSIDE: "open_outside_range",
    _CLOSE_OUTSIDE: "close_outside_range",
    _DUPLICATE: "duplicated_timestamp",
}
"""Keys of :attr:`ValidationReport.dropped`, by internal reason code."""


@dataclass(frozen=True, slots=True)
class RawBars:
    """Parsed, unchecked columns of a file: one entry per non-blank data row, in file order.

    Attributes
    ----------
    rows : ndarray of int64
        The spreadsheet row number of each entry (header is row 1).
    ts : ndarray of int64
        UTC nanoseconds; meaningless where ``ts_status`` is not ``TS_OK``.
    ts_status : ndarray of int8
        ``TS_OK``, ``TS_MISSING``, ``TS_UNPARSEABLE`` or ``TS_NONEXISTENT``.
    ts_text : Series
        The timestamp as written in the file (positionally aligned), for error messages.
    fields : mapping of str to ndarray of float64
        ``open``, ``high``, ``low``, ``close``, ``volume``; NaN where the cell was not a number.
    field_text : mapping of str to Series
        The cells as written (positionally aligned), only for the fields that held text that was
        not a number.
    timezone : str
        The IANA timezone naive timestamps were read in.
    """

    rows: IntArray
    ts: IntArray
    ts_status: CodeArray
    ts_text: pd.Series
    fields: Mapping[str, FloatArray]
    field_text: Mapping[str, pd.Series] = field(default_factory=dict)
    timezone: str = "UTC"

    def __len__(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What loading found and, with ``repair=True``, what it changed.

    Attributes
    ----------
    source : str
        The path as the caller gave it.
    rows_read : int
        Non-blank data rows in the file.
    rows_kept : int
        Bars in the returned series.
    dropped : dict of str to int
        Rows dropped by repair, per reason (only reasons that occurred): ``missing_timestamp``,
        ``unparseable_timestamp``, ``nonexistent_local_time``, ``non_finite_value``,
        ``non_positive_price``, ``negative_volume``, ``high_below_low``, ``open_outside_range``,
        ``close_outside_range``, ``duplicated_timestamp``. A row is counted once, under the first
        reason in that order.
    sorted_rows : int
        Rows whose timestamp was before the previous row's (once bad rows were dropped): the
        out-of-order rows strict mode would reject; repair sorts them into place.
    gaps : list of Gap
        Missing stretches of weekday time (see :func:`tradeloop.data.find_gaps`); never filled.
    notes : list of str
        Other facts worth knowing (blank lines skipped, volume missing, columns chosen).
    timeframe_ns : int
        The bar length: the most common step between bars, 0 with fewer than two bars.
    start_ns, end_ns : int
        First and last bar times (UTC ns), 0 for an empty series.
    """

    source: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    sorted_rows: int = 0
    gaps: list[Gap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timeframe_ns: int = 0
    start_ns: int = 0
    end_ns: int = 0

    @property
    def clean(self) -> bool:
        """True when repair changed nothing (no row dropped or moved)."""
        return not self.dropped and self.sorted_rows == 0

    def summary(self) -> str:
        """Return a one-line human description of the load.

        Returns
        -------
        str
            For example ``"GOOG.csv: 2148 bars of 1d from 2004-08-19T00:00:00Z to
            2013-03-01T00:00:00Z; 77 gaps (79 missing bars)"``.
        """
        parts = [f"{self.source}: {self.rows_kept} bars"]
        if self.timeframe_ns:
            parts.append(f" of {format_duration(self.timeframe_ns)}")
        if self.rows_kept:
            parts.append(f" from {ns_to_iso(self.start_ns)} to {ns_to_iso(self.end_ns)}")
        sorted_rows = _plural(self.sorted_rows, "out-of-order row") if self.sorted_rows else ""
        text = "".join(parts) + repair_summary(self.rows_read, self.dropped, sorted_rows)
        if self.gaps:
            missing = sum(g.missing_bars for g in self.gaps)
            text += f"; {_plural(len(self.gaps), 'gap')} ({_plural(missing, 'missing bar')})"
        else:
            text += "; no gaps"
        return text + notes_summary(self.notes)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def dropped_detail(dropped: Mapping[str, int]) -> str:
    """Describe the rows repair dropped, per reason.

    Parameters
    ----------
    dropped : mapping of str to int
        Counts per reason key, as in :attr:`ValidationReport.dropped`.

    Returns
    -------
    str
        For example ``"1 crossed quote, 2 missing timestamp"``.
    """
    return ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in dropped.items())


def repair_summary(rows_read: int, dropped: Mapping[str, int], sorted_rows: str) -> str:
    """Return the part of a load summary that says what repair did.

    Parameters
    ----------
    rows_read : int
        Non-blank data rows in the file.
    dropped : mapping of str to int
        Rows dropped per reason (see :func:`dropped_detail`).
    sorted_rows : str
        The rows sorted into place, counted with their noun (``"3 out-of-order rows"``), or
        ``""`` when none were.

    Returns
    -------
    str
        ``"; dropped 3 of 10 rows (3 missing timestamp); sorted 3 out-of-order rows"`` or the
        parts of it that apply; ``""`` when repair changed nothing.
    """
    text = ""
    if dropped:
        text += f"; dropped {sum(dropped.values())} of {rows_read} rows ({dropped_detail(dropped)})"
    if sorted_rows:
        text += f"; sorted {sorted_rows}"
    return text


def notes_summary(notes: Sequence[str]) -> str:
    """Return the notes of a load report as the end of its summary.

    Parameters
    ----------
    notes : sequence of str

    Returns
    -------
    str
        ``"; note one; note two"``, or ``""`` without notes.
    """
    return "; " + "; ".join(notes) if notes else ""


def no_rows_left(source: str, dropped: Mapping[str, int]) -> DataError:
    """Return the error for a file that repair emptied.

    Parameters
    ----------
    source : str
        The path as the caller gave it.
    dropped : mapping of str to int
        Rows dropped per reason.

    Returns
    -------
    DataError
        ``"{source}: no valid rows left after repair (dropped {detail})"``.
    """
    detail = dropped_detail(dropped)
    return DataError(f"{source}: no valid rows left after repair (dropped {detail})")


def format_duration(ns: int) -> str:
    """Format a duration in nanoseconds compactly: ``"1d"``, ``"4h"``, ``"15m"``, ``"30s"``.

    Parameters
    ----------
    ns : int
        A positive duration.

    Returns
    -------
    str
        The largest unit that divides the duration exactly, ``"ms"``, ``"us"`` or ``"ns"`` last.
    """
    units = (
        (7 * NANOS_PER_DAY, "w"),
        (NANOS_PER_DAY, "d"),
        (NANOS_PER_HOUR, "h"),
        (NANOS_PER_MINUTE, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    )
    for size, name in units:
        if ns >= size and ns % size == 0:
            return f"{ns // size}{name}"
    return f"{ns}ns"


def _duplicates(ts: IntArray) -> BoolArray:
    order = np.argsort(ts, kind="stable")
    ordered = ts[order]
    later = np.zeros(ts.shape[0], dtype=np.bool_)
    later[order[1:][ordered[1:] == ordered[:-1]]] = True
    return later


def _value_codes(raw: RawBars) -> CodeArray:
    f = raw.fields
    o, h, lo, c, v = (f[name] for name in FIELDS)
    codes = raw.ts_status.astype(np.int8, copy=True)
    checks: list[tuple[int, BoolArray]] = [
        (_NON_FINITE, ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
                        & np.isfinite(v))),
        (_NON_POSITIVE, (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)),
        (_NEGATIVE_VOLUME, v < 0),
        (_HIGH_BELOW_LOW, h < lo),
        (_OPEN_OUTSIDE, (o < lo) | (o > h)),
        (_CLOSE_OUTSIDE, (c < lo) | (c > h)),
    ]
    for code, mask in checks:
        codes[(codes == 0) & mask] = code
    return codes


def _all_codes(raw: RawBars) -> CodeArray:
    codes = _value_codes(raw)
    valid = np.flatnonzero(raw.ts_status == TS_OK)
    ts = raw.ts[valid]
    relational = np.zeros(valid.shape[0], dtype=np.int8)
    if valid.shape[0] > 1:
        relational[1:][ts[1:] < ts[:-1]] = _OUT_OF_ORDER
        relational[_duplicates(ts)] = _DUPLICATE
    sub = codes[valid]
    codes[valid] = np.where(sub == 0, relational, sub)
    return codes


def describe_non_finite(raw: RawBars, i: int, names: Sequence[str]) -> str:
    """Say which value of a row is not a finite number, and what the file held there.

    Parameters
    ----------
    raw : RawBars
        The parsed rows.
    i : int
        The position of the row in ``raw``.
    names : sequence of str
        The fields to look at, in order; the first that is not finite is described.

    Returns
    -------
    str
        ``"close is not a number: 'abc'"``, ``"close is NaN"`` or ``"close is inf"``.
    """
    for name in names:
        value = float(raw.fields[name][i])
        if np.isfinite(value):
            continue
        text = raw.field_text.get(name)
        if np.isnan(value):
            cell = None if text is None else text.iloc[i]
            word = str(cell).strip() if isinstance(cell, str) else ""
            if word and word.lower() not in ("nan", "-nan", "na", "n/a", "null", "none"):
                return f"{name} is not a number: {word!r}"
            return f"{name} is NaN"
        return f"{name} is {'inf' if value > 0 else '-inf'}"
    return "a value is not finite"


def describe_timestamp(raw: RawBars, i: int, code: int) -> str | None:
    """Say what is wrong with a row's timestamp, given its ``TS_*`` status code.

    Parameters
    ----------
    raw, i : RawBars, int
        The parsed rows, and the position in them of the row to describe.
    code : int
        The row's problem code.

    Returns
    -------
    str or None
        The reason for ``TS_MISSING``, ``TS_UNPARSEABLE`` and ``TS_NONEXISTENT``; None for any
        other code.
    """
    written = str(raw.ts_text.iloc[i]).strip()
    if code == TS_MISSING:
        return "timestamp is missing"
    if code == TS_UNPARSEABLE:
        return f"timestamp {written!r} is not a recognised date/time"
    if code == TS_NONEXISTENT:
        return (
            f"timestamp {written!r} does not exist in {raw.timezone} "
            "(skipped by a daylight-saving change)"
        )
    return None


def _describe(raw: RawBars, i: int, code: int) -> str:
    f = {name: float(raw.fields[name][i]) for name in FIELDS}
    timestamp = describe_timestamp(raw, i, code)
    if timestamp is not None:
        return timestamp
    if code == _NON_FINITE:
        return describe_non_finite(raw, i, FIELDS)
    if code == _NON_POSITIVE:
        name = next(n for n in PRICE_FIELDS if f[n] <= 0)
        return f"{name} {f[name]!r} is not positive"
    if code == _NEGATIVE_VOLUME:
        return f"volume {f['volume']!r} is negative"
    if code == _HIGH_BELOW_LOW:
        return f"high {f['high']!r} < low {f['low']!r}"
    if code in (_OPEN_OUTSIDE, _CLOSE_OUTSIDE):
        name = "open" if code == _OPEN_OUTSIDE else "close"
        return f"{name} {f[name]!r} is outside [low {f['low']!r}, high {f['high']!r}]"
    ts = int(raw.ts[i])
    if code == _DUPLICATE:
        same = np.flatnonzero((raw.ts == ts) & (raw.ts_status == TS_OK))
        return f"duplicated timestamp {ns_to_iso(ts)} (first at row {int(raw.rows[same[0]])})"
    return f"timestamp {ns_to_iso(ts)} is before the previous row's"


def first_problem(raw: RawBars) -> tuple[int, str] | None:
    """Return the earliest problem of ``raw`` as ``(row, reason)``, or None when it is valid.

    Parameters
    ----------
    raw : RawBars
        The parsed rows, in file order.

    Returns
    -------
    tuple of (int, str) or None
        The spreadsheet row number and a reason naming the field and value.
    """
    codes = _all_codes(raw)
    bad = np.flatnonzero(codes)
    if bad.shape[0] == 0:
        return None
    i = int(bad[0])
    return int(raw.rows[i]), _describe(raw, i, int(codes[i]))


def _series(raw: RawBars, index: IntArray | None, symbol: str, source: str) -> BarSeries:
    def take(values: npt.NDArray[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
        picked = values if index is None else values[index]
        return np.ascontiguousarray(picked, dtype=dtype)

    ts = take(raw.ts, np.int64)
    o, h, lo, c, v = (take(raw.fields[name], np.float64) for name in FIELDS)
    return BarSeries(symbol, ts, o, h, lo, c, v, timeframe_ns=infer_timeframe(ts), source=source)


def _report(
    bars: BarSeries,
    rows_read: int,
    dropped: dict[str, int],
    sorted_rows: int,
    notes: list[str],
) -> ValidationReport:
    n = len(bars)
    return ValidationReport(
        source=bars.source,
        rows_read=rows_read,
        rows_kept=n,
        dropped=dropped,
        sorted_rows=sorted_rows,
        gaps=find_gaps(bars),
        notes=list(notes),
        timeframe_ns=bars.timeframe_ns,
        start_ns=int(bars.ts[0]) if n else 0,
        end_ns=int(bars.ts[-1]) if n else 0,
    )


def check_bars(
    raw: RawBars,
    *,
    symbol: str,
    source: str,
    repair: bool = False,
    notes: list[str] | None = None,
) -> tuple[BarSeries, ValidationReport]:
    """Validate parsed rows and turn them into a :class:`BarSeries` under the chosen policy.

    Parameters
    ----------
    raw : RawBars
        The parsed rows, in file order.
    symbol : str
        The instrument the bars belong to.
    source : str
        The path as the caller gave it; starts every error message.
    repair : bool, default False
        False: raise on the first problem. True: drop bad rows, keep the first of duplicated
        timestamps, sort, and count what was done.
    notes : list of str, optional
        Notes from loading, copied into the report.

    Returns
    -------
    tuple of (BarSeries, ValidationReport)

    Raises
    ------
    DataError
        ``"{source}: row {row}: {reason}"`` for the first problem when ``repair`` is False; when
        the file has no data rows; when repair leaves no rows.
    """
    notes = list(notes or [])
    if len(raw) == 0:
        raise DataError(f"{source}: no data rows")
    if not repair:
        problem = first_problem(raw)
        if problem is not None:
            raise DataError(f"{source}: row {problem[0]}: {problem[1]}")
        bars = _series(raw, None, symbol, source)
        return bars, _report(bars, len(raw), {}, 0, notes)

    codes = _value_codes(raw)
    counts = np.bincount(codes, minlength=len(DROP_REASONS) + 1)
    dropped = {name: int(counts[code]) for code, name in DROP_REASONS.items() if counts[code]}
    keep = np.flatnonzero(codes == 0)
    ts = raw.ts[keep]
    later = _duplicates(ts)
    if later.any():
        dropped[DROP_REASONS[_DUPLICATE]] = int(later.sum())
        keep = keep[~later]
        ts = ts[~later]
    if keep.shape[0] == 0:
        raise no_rows_left(source, dropped)
    sorted_rows = 0
    if ts.shape[0] > 1:
        sorted_rows = int(np.count_nonzero(ts[1:] < ts[:-1]))
        if sorted_rows:
            keep = keep[np.argsort(ts, kind="stable")]
    bars = _series(raw, keep, symbol, source)
    return bars, _report(bars, len(raw), dropped, sorted_rows, notes)
