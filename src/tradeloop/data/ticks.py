"""Loading quote and trade ticks from CSV and Parquet files into validated series.

Files are read as :func:`tradeloop.data.load_bars` reads them (:mod:`tradeloop.data.reading`:
delimiter, decimal comma and encoding sniffed; the header is row 1, the first data row row 2;
blank lines skipped but numbered) and timestamps go through the same parser and the same
one-timezone check. Ticks differ from bars in what is valid: several ticks may share a
timestamp, so only a timestamp *before* the previous row's is out of order, and a quote whose
bid is above its ask is crossed.

A file must use one timezone: a column that mixes local times with UTC offsets, or whose
offsets differ by more than the one hour daylight saving gives, is rejected (even with
``repair``), because no row-by-row repair can tell which rows are right (see
:func:`tradeloop.data.timestamps.check_single_timezone`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_iso
from tradeloop.data import reading
from tradeloop.data.columns import DATE_TIME_PAIR, PRICE_SPELLINGS, TIME_SPELLINGS, normalise
from tradeloop.data.timestamps import looks_like_time_of_day, read_timestamps
from tradeloop.data.validation import (
    TS_MISSING,
    TS_NONEXISTENT,
    TS_UNPARSEABLE,
    RawBars,
    describe_non_finite,
    describe_timestamp,
    no_rows_left,
    notes_summary,
    repair_summary,
)
from tradeloop.model.data import FloatArray, IntArray, QuoteSeries, TradeSeries

TickKind = Literal["quote", "trade"]
FileKind = Literal["bars", "quote", "trade"]

SPELLINGS: dict[str, tuple[str, ...]] = {
    "bid": ("bid", "bid_price", "bidprice", "best_bid", "bid_px"),
    "ask": ("ask", "ask_price", "askprice", "best_ask", "ask_px", "offer", "offer_price"),
    "bid_size": ("bid_size", "bidsize", "bid_volume", "bidvolume", "bid_qty", "bidqty",
                 "bid_vol"),
    "ask_size": ("ask_size", "asksize", "ask_volume", "askvolume", "ask_qty", "askqty",
                 "ask_vol", "offer_size"),
    "price": ("price", "last", "px", "last_price", "trade_price"),
    "size": ("size", "qty", "quantity", "volume", "amount", "vol", "last_size"),
    "trade_id": ("trade_id", "tradeid", "id"),
}
"""Accepted column names per tick field, in order of preference (compared normalised)."""

_NON_FINITE = 4
_NON_POSITIVE = 5
_NEGATIVE_SIZE = 6
_CROSSED = 7
_OUT_OF_ORDER = 8

DROP_REASONS = {
    TS_MISSING: "missing_timestamp",
    TS_UNPARSEABLE: "unparseable_timestamp",
    TS_NONEXISTENT: "nonexistent_local_time",
    _NON_FINITE: "non_finite_value",
    _NON_POSITIVE: "non_positive_price",
    _NEGATIVE_SIZE: "negative_size",
    _CROSSED: "crossed_quote",
}
"""Keys of :attr:`TickReport.dropped`, by internal reason code."""

_PRICES: dict[str, tuple[str, ...]] = {"quote": ("bid", "ask"), "trade": ("price",)}
_SIZES: dict[str, tuple[str, ...]] = {"quote": ("bid_size", "ask_size"), "trade": ("size",)}


@dataclass(frozen=True, slots=True)
class TickReport:
    """What loading a tick file found and, with ``repair=True``, what it changed.

    Attributes
    ----------
    source : str
        The path as the caller gave it.
    kind : {"quote", "trade"}
    rows_read : int
        Non-blank data rows in the file.
    rows_kept : int
        Ticks in the returned series.
    dropped : dict of str to int
        Rows dropped by repair, per reason (only reasons that occurred): ``missing_timestamp``,
        ``unparseable_timestamp``, ``nonexistent_local_time``, ``non_finite_value``,
        ``non_positive_price``, ``negative_size``, ``crossed_quote``. A row is counted once,
        under the first reason in that order.
    sorted_rows : int
        Rows whose timestamp was before the previous row's; repair sorts them into place
        (stably: ticks sharing a timestamp keep their file order).
    notes : list of str
        Other facts worth knowing (sizes missing, epoch unit, blank lines).
    start_ns, end_ns : int
        First and last tick times (UTC ns), 0 for an empty series.
    """

    source: str
    kind: TickKind
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    sorted_rows: int = 0
    notes: list[str] = field(default_factory=list)
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
            For example ``"ticks.csv: 1200 quotes from 2024-01-02T09:00:00Z to
            2024-01-02T09:05:00Z; dropped 1 of 1201 rows (1 crossed quote)"``.
        """
        text = f"{self.source}: {self.rows_kept} {self.kind}s"
        if self.rows_kept:
            text += f" from {ns_to_iso(self.start_ns)} to {ns_to_iso(self.end_ns)}"
        sorted_rows = f"{self.sorted_rows} out-of-order row(s)" if self.sorted_rows else ""
        return text + repair_summary(self.rows_read, self.dropped, sorted_rows) + notes_summary(
            self.notes
        )


@dataclass(frozen=True, slots=True)
class TickLoadResult:
    """Ticks loaded from a file, with the report of what validation found and did.

    Attributes
    ----------
    ticks : QuoteSeries or TradeSeries
        UTC, in non-decreasing time order.
    report : TickReport
    trade_ids : ndarray of object, optional
        The trade ids as text, aligned with ``ticks``, when a trade file has an id column.
    """

    ticks: QuoteSeries | TradeSeries
    report: TickReport
    trade_ids: npt.NDArray[np.object_] | None = None


@dataclass(frozen=True, slots=True)
class _TickColumns:
    kind: TickKind
    time: str | None
    date: str | None
    clock: str | None
    values: dict[str, str]
    trade_id: str | None

    def used(self) -> list[str]:
        names = [self.time, self.date, self.clock, *self.values.values(), self.trade_id]
        return list(dict.fromkeys(n for n in names if n is not None))


def _first(by_norm: dict[str, str], spellings: Sequence[str]) -> str | None:
    return next((by_norm[s] for s in spellings if s in by_norm), None)


def _by_norm(columns: Sequence[object]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise(col), str(col))
    return by_norm


def _kind_of(by_norm: dict[str, str]) -> FileKind | None:
    if all(_first(by_norm, spellings) for spellings in PRICE_SPELLINGS.values()):
        return "bars"
    if _first(by_norm, SPELLINGS["bid"]) and _first(by_norm, SPELLINGS["ask"]):
        return "quote"
    if _first(by_norm, SPELLINGS["price"]):
        return "trade"
    if sum(_first(by_norm, spellings) is not None for spellings in PRICE_SPELLINGS.values()) > 1:
        return "bars"  # incomplete: load_bars names the missing columns
    return None


def _unknown_columns(source: str, columns: Sequence[object]) -> DataError:
    found = ", ".join(str(c) for c in columns) or "(none)"
    return DataError(
        f"{source}: unknown columns {found}: expected open, high, low and close (bars), bid and "
        f"ask (quotes) or a price (trades: {', '.join(SPELLINGS['price'][:3])}), next to a "
        "timestamp column (names are matched ignoring case, <> and spaces)"
    )


def _time_columns(head: pd.DataFrame) -> tuple[str | None, str | None, str | None]:
    by_norm = _by_norm(list(head.columns))
    if all(p in by_norm for p in DATE_TIME_PAIR) and looks_like_time_of_day(
        head[by_norm["time"]]
    ):
        return None, by_norm["date"], by_norm["time"]
    return _first(by_norm, TIME_SPELLINGS), None, None


_NO_TIME = (f"no timestamp column (accepted: {', '.join(TIME_SPELLINGS)}, "
            "or a date column plus a time column)")


def _resolve(head: pd.DataFrame, source: str, kind: TickKind | Literal["auto"]) -> _TickColumns:
    columns = list(head.columns)
    by_norm = _by_norm(columns)
    found_kind = _kind_of(by_norm) if kind == "auto" else kind
    if found_kind == "bars":
        raise DataError(
            f"{source}: open/high/low/close columns found: this is a bar file "
            "(load it with load_bars, or pass kind='quote' or kind='trade')"
        )
    if found_kind is None:
        raise _unknown_columns(source, columns)
    time, date, clock = _time_columns(head)
    problems = [] if time or date else [_NO_TIME]
    values: dict[str, str] = {}
    for name in (*_PRICES[found_kind], *_SIZES[found_kind]):
        column = _first(by_norm, SPELLINGS[name])
        if column is not None:
            values[name] = column
        elif name in _PRICES[found_kind]:
            problems.append(f"no {name} column (accepted: {', '.join(SPELLINGS[name])})")
    if problems:
        found = ", ".join(str(c) for c in columns) or "(none)"
        raise DataError(
            f"{source}: {'; '.join(problems)}; columns found: {found} "
            "(names are matched ignoring case, <> and spaces)"
        )
    trade_id = _first(by_norm, SPELLINGS["trade_id"]) if found_kind == "trade" else None
    return _TickColumns(found_kind, time, date, clock, values, trade_id)


def detect_kind(path: str | os.PathLike[str]) -> FileKind:
    """Tell from a file's column names whether it holds bars, quotes or trades.

    Parameters
    ----------
    path : str or path-like
        A CSV or Parquet file; only its header (or schema) and first rows are read.

    Returns
    -------
    {"bars", "quote", "trade"}
        ``"bars"`` for open/high/low/close columns, ``"quote"`` for bid and ask, ``"trade"``
        for a price (``price``, ``last``, ``px``); ``"bars"`` again for a file with some but
        not all of open/high/low/close, so that loading it names the missing ones.

    Raises
    ------
    DataError
        Missing or unreadable file, or columns that fit none of the three (the message lists
        the columns found and the spellings accepted).
    """
    file, source = reading.existing_file(path)
    head = reading.read_head(file, source)
    kind = _kind_of(_by_norm(list(head.columns)))
    if kind is None:
        raise _unknown_columns(source, list(head.columns))
    return kind


def _raw(
    frame: pd.DataFrame, rows: IntArray, cols: _TickColumns, source: str, timezone: str,
    notes: list[str],
) -> tuple[RawBars, npt.NDArray[np.object_] | None]:
    times, parsed = read_timestamps(frame, (cols.time, cols.date, cols.clock), rows, source,
                                    timezone)
    notes.extend(parsed.notes)
    fields: dict[str, FloatArray] = {}
    text: dict[str, pd.Series] = {}
    for name in (*_PRICES[cols.kind], *_SIZES[cols.kind]):
        if name not in cols.values:
            notes.append(f"no {name} column: {name} set to 0")
            fields[name] = np.zeros(len(frame), dtype=np.float64)
            continue
        fields[name], maybe_text = reading.numeric_values(frame[cols.values[name]])
        if maybe_text is not None:
            text[name] = maybe_text.reset_index(drop=True)
    trade_ids = None
    if cols.trade_id is not None:
        trade_ids = frame[cols.trade_id].astype("str").to_numpy(dtype=object)

    blank = parsed.status == TS_MISSING
    for name, column in cols.values.items():
        blank &= np.isnan(fields[name]) & frame[column].isna().to_numpy(dtype=np.bool_)
    keep = np.flatnonzero(~blank)
    if blank.any():
        notes.append(f"skipped {int(blank.sum())} blank line(s)")
    raw = RawBars(
        rows=rows[keep],
        ts=parsed.ns[keep],
        ts_status=parsed.status[keep],
        ts_text=times.iloc[keep].reset_index(drop=True),
        fields={name: values[keep] for name, values in fields.items()},
        field_text={name: values.iloc[keep].reset_index(drop=True)
                    for name, values in text.items()},
        timezone=timezone,
    )
    return raw, None if trade_ids is None else trade_ids[keep]


def _value_codes(raw: RawBars, kind: TickKind) -> npt.NDArray[np.int8]:
    codes = raw.ts_status.astype(np.int8, copy=True)
    prices = [raw.fields[name] for name in _PRICES[kind]]
    sizes = [raw.fields[name] for name in _SIZES[kind]]
    finite = np.logical_and.reduce([np.isfinite(v) for v in (*prices, *sizes)])
    checks = [
        (_NON_FINITE, ~finite),
        (_NON_POSITIVE, np.logical_or.reduce([p <= 0 for p in prices])),
        (_NEGATIVE_SIZE, np.logical_or.reduce([s < 0 for s in sizes])),
    ]
    if kind == "quote":
        checks.append((_CROSSED, raw.fields["bid"] > raw.fields["ask"]))
    for code, mask in checks:
        codes[(codes == 0) & mask] = code
    return codes


def _describe(raw: RawBars, i: int, code: int, kind: TickKind) -> str:
    names = (*_PRICES[kind], *_SIZES[kind])
    value = {name: float(raw.fields[name][i]) for name in names}
    timestamp = describe_timestamp(raw, i, code)
    if timestamp is not None:
        return timestamp
    if code == _NON_FINITE:
        return describe_non_finite(raw, i, names)
    if code == _NON_POSITIVE:
        name = next(n for n in _PRICES[kind] if value[n] <= 0)
        return f"{name} {value[name]!r} is not positive"
    if code == _NEGATIVE_SIZE:
        name = next(n for n in _SIZES[kind] if value[n] < 0)
        return f"{name} {value[name]!r} is negative"
    if code == _CROSSED:
        return f"crossed quote: bid {value['bid']!r} is above ask {value['ask']!r}"
    return f"timestamp {ns_to_iso(int(raw.ts[i]))} is before the previous row's"


def _series(raw: RawBars, keep: IntArray, kind: TickKind, symbol: str, source: str
            ) -> QuoteSeries | TradeSeries:
    ts = np.ascontiguousarray(raw.ts[keep], dtype=np.int64)
    f = {name: np.ascontiguousarray(values[keep], dtype=np.float64)
         for name, values in raw.fields.items()}
    if kind == "quote":
        return QuoteSeries(symbol, ts, f["bid"], f["ask"], f["bid_size"], f["ask_size"], source)
    return TradeSeries(symbol, ts, f["price"], f["size"], source)


def load_ticks(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    timezone: str = "UTC",
    kind: Literal["auto", "quote", "trade"] = "auto",
    repair: bool = False,
) -> TickLoadResult:
    """Load quote or trade ticks from a CSV or Parquet file, validated under an explicit policy.

    Parameters
    ----------
    path : str or path-like
        A ``.parquet`` / ``.pq`` file, or any other file read as delimited text.
    symbol : str, optional
        The instrument; defaults to the file name without extension, upper-cased.
    timezone : str, default "UTC"
        IANA timezone of naive timestamps; aware timestamps and numeric epochs ignore it.
    kind : {"auto", "quote", "trade"}, default "auto"
        ``"auto"`` picks quotes when there are bid and ask columns, else trades when there is
        a price column.
    repair : bool, default False
        False: raise on the first bad row. True: drop bad rows, sort out-of-order ones (stably)
        and count what was done in the report.

    Returns
    -------
    TickLoadResult
        A :class:`QuoteSeries` or :class:`TradeSeries` in non-decreasing time order, the report,
        and trade ids when the file has them.

    Raises
    ------
    ConfigError
        Unknown timezone or kind.
    DataError
        The file is missing, unreadable or lacks a required column (the message names the file,
        the columns found and the spellings accepted); timestamps mix timezones; or, without
        ``repair``, a row is bad: ``"{path}: row {row}: {reason}"``.

    Notes
    -----
    Columns are found as for bars (case, ``<>`` and spaces ignored); the timestamp as in
    :func:`load_bars`, the rest by :data:`SPELLINGS`. A missing size column gives zeros, noted
    in the report. Validation: timestamps present and parseable, values finite, prices
    positive, sizes not negative, bid not above ask, no timestamp before the previous row's
    (equal ones are fine).
    """
    if kind not in ("auto", "quote", "trade"):
        raise ConfigError(f"unknown tick kind {kind!r}: use 'auto', 'quote' or 'trade'")
    reading.check_timezone_name(timezone)
    file, source = reading.existing_file(path)
    cols = _resolve(reading.read_head(file, source), source, kind)
    text_columns = [c for c in (cols.date, cols.clock, cols.trade_id) if c is not None]
    read = reading.read_columns(file, source, cols.used(), text_columns)
    notes = list(read.notes)
    raw, trade_ids = _raw(read.frame, read.rows, cols, source, timezone, notes)
    if raw.rows.shape[0] == 0:
        raise DataError(f"{source}: no data rows")
    name = symbol if symbol is not None else file.stem.upper()
    codes = _value_codes(raw, cols.kind)
    valid = np.flatnonzero(codes == 0)
    later = raw.ts[valid]
    backwards = valid[1:][later[1:] < later[:-1]]
    if not repair:
        codes[backwards] = _OUT_OF_ORDER
        bad = np.flatnonzero(codes)
        if bad.shape[0]:
            i = int(bad[0])
            reason = _describe(raw, i, int(codes[i]), cols.kind)
            raise DataError(f"{source}: row {int(raw.rows[i])}: {reason}")
        keep = np.arange(raw.rows.shape[0], dtype=np.int64)
        dropped: dict[str, int] = {}
        sorted_rows = 0
    else:
        counts = np.bincount(codes, minlength=max(DROP_REASONS) + 1)
        dropped = {why: int(counts[c]) for c, why in DROP_REASONS.items() if counts[c]}
        if valid.shape[0] == 0:
            raise no_rows_left(source, dropped)
        sorted_rows = int(backwards.shape[0])
        keep = valid[np.argsort(later, kind="stable")] if sorted_rows else valid
    ticks = _series(raw, keep, cols.kind, name, source)
    report = TickReport(
        source=source,
        kind=cols.kind,
        rows_read=int(raw.rows.shape[0]),
        rows_kept=len(ticks),
        dropped=dropped,
        sorted_rows=sorted_rows,
        notes=notes,
        start_ns=int(ticks.ts[0]),
        end_ns=int(ticks.ts[-1]),
    )
    return TickLoadResult(ticks, report, None if trade_ids is None else trade_ids[keep])


__all__ = [
    "TickKind",
    "TickLoadResult",
    "TickReport",
    "detect_kind",
    "load_ticks",
]
