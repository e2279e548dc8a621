"""A Parquet store of bars and ticks, partitioned by venue, symbol, bar length and time.

Writing merges the incoming rows into the partitions they touch and rewrites only those, all or
nothing; reading opens only the partitions a time range needs and, inside them, only the row
groups whose ``ts`` statistics overlap it. The layout, the write guarantee across partitions and
the catalog are described in :mod:`tradeloop.data.catalog`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.data.catalog import (
    JOURNAL_DIR,
    META_PREFIX,
    TS_TYPE,
    CatalogEntry,
    Columns,
    DatasetKind,
    build_catalog,
    dataset_dir,
    describe_stored,
    encode_gaps,
    partition_bounds,
    partition_files,
    partition_unit,
)
from tradeloop.data.gaps import find_gaps
from tradeloop.data.loaders import load_bars
from tradeloop.data.store_writes import commit, merge_bars, merge_ticks, recover, store_lock
from tradeloop.data.ticks import TickReport, detect_kind, load_ticks
from tradeloop.data.timeframes import Timeframe, parse_timeframe
from tradeloop.data.validation import ValidationReport
from tradeloop.model.data import BarSeries, IntArray, QuoteSeries, TradeSeries

logger = logging.getLogger(__name__)

FORMAT_VERSION = "1"

_FIELDS: dict[DatasetKind, tuple[str, ...]] = {
    "bars": ("open", "high", "low", "close", "volume"),
    "quotes": ("bid", "ask", "bid_size", "ask_size"),
    "trades": ("price", "size"),
}
_TICK_KINDS: dict[str, DatasetKind] = {
    "quote": "quotes", "quotes": "quotes", "trade": "trades", "trades": "trades",
}


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write changed.

    Attributes
    ----------
    rows_added : int
        Incoming rows that were not stored before.
    rows_replaced : int
        Stored bars replaced by an incoming bar with the same timestamp and other values
        (always 0 for ticks).
    rows_unchanged : int
        Incoming rows already stored exactly as they are; nothing was written for them.
    partitions_written : tuple of Path
        The partition files rewritten or created, oldest first.
    """

    rows_added: int
    rows_replaced: int
    rows_unchanged: int
    partitions_written: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A file imported into the store.

    Attributes
    ----------
    kind : {"bars", "quotes", "trades"}
    venue, symbol : str
    timeframe : str or None
        Bar length label, None for ticks.
    report : ValidationReport or TickReport
        What loading found and, with ``repair``, changed.
    written : WriteResult
    """

    kind: DatasetKind
    venue: str
    symbol: str
    timeframe: str | None
    report: ValidationReport | TickReport
    written: WriteResult


def _partition_table(columns: Columns, fields: tuple[str, ...], metadata: Mapping[str, str]
                    ) -> pa.Table:
    arrays = [pa.array(columns["ts"], type=TS_TYPE)]
    arrays += [pa.array(columns[name], type=pa.float64()) for name in fields]
    schema = pa.schema(
        [pa.field("ts", TS_TYPE, nullable=False)]
        + [pa.field(name, pa.float64(), nullable=False) for name in fields],
        metadata={f"{META_PREFIX}{k}".encode(): v.encode() for k, v in metadata.items()},
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def _table_columns(table: pa.Table, fields: tuple[str, ...]) -> Columns:
    out: Columns = {
        "ts": np.ascontiguousarray(
            table.column("ts").combine_chunks().cast(pa.int64()).to_numpy(), dtype=np.int64
        )
    }
    for name in fields:
        out[name] = np.ascontiguousarray(
            table.column(name).combine_chunks().to_numpy(), dtype=np.float64
        )
    return out


def _stored_symbol(table: pa.Table) -> str | None:
    meta = table.schema.metadata or {}
    value = meta.get(f"{META_PREFIX}symbol".encode())
    return None if value is None else value.decode()


def _read_partition(path: Path, fields: tuple[str, ...], symbol: str,
                   start_ns: int | None = None, end_ns: int | None = None) -> pa.Table:
    expression = None
    if start_ns is not None or end_ns is not None:
        lo = np.iinfo(np.int64).min if start_ns is None else start_ns
        hi = np.iinfo(np.int64).max if end_ns is None else end_ns
        expression = (ds.field("ts") >= pa.scalar(lo, TS_TYPE)) & (
            ds.field("ts") <= pa.scalar(hi, TS_TYPE))
    try:
        if expression is None:
            table = pq.ParquetFile(path).read(columns=["ts", *fields])
        else:
            dataset = ds.dataset(str(path), format="parquet")
            table = dataset.to_table(columns=["ts", *fields], filter=expression)
            table = table.replace_schema_metadata(dataset.schema.metadata)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        reason = " ".join(str(exc).split())
        raise DataError(
            f"{path}: store partition is unreadable ({reason}); move it away and re-import"
        ) from exc
    stored = _stored_symbol(table)
    if stored is not None and stored != symbol:
        raise DataError(
            f"{path}: holds {stored!r}, not {symbol!r} (this file system ignores case in "
            "names, so symbols that differ only in case cannot share a store)"
        )
    return table


def _partition_labels(ts: IntArray, unit: str) -> npt.NDArray[np.str_]:
    return np.asarray(ts.astype("M8[ns]").astype(f"M8[{unit}]").astype(str))


def _check_columns(columns: Columns, fields: tuple[str, ...], what: str,
                   strictly_increasing: bool) -> None:
    n = columns["ts"].shape[0]
    for name in fields:
        if columns[name].shape[0] != n:
            raise DataError(f"{what}: {name} has {columns[name].shape[0]} values for {n} rows")
        bad = np.flatnonzero(~np.isfinite(columns[name]))
        if bad.shape[0]:
            raise DataError(f"{what}: {name} at index {int(bad[0])} is not finite")
    ts = columns["ts"]
    steps = np.diff(ts)
    bad = np.flatnonzero(steps <= 0 if strictly_increasing else steps < 0)
    if bad.shape[0]:
        i = int(bad[0]) + 1
        order = "strictly increasing" if strictly_increasing else "in time order"
        raise DataError(f"{what}: timestamps must be {order} (index {i} is not)")


class DataStore:
    """Bars and ticks kept as Parquet files under one directory.

    Parameters
    ----------
    root : str or path-like
        The store's directory (created on the first write). Opening a store undoes any write
        a crash interrupted (see :mod:`tradeloop.data.catalog`).

    Examples
    --------
    >>> import tempfile
    >>> from tradeloop.data import bundled_path
    >>> store = DataStore(tempfile.mkdtemp())
    >>> store.import_file(bundled_path("goog")).written.rows_added
    2148
    >>> store.read_bars("GOOG", "1d").source
    'store:SIM/GOOG/1d'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"data store {self.root} is a file, not a directory")
        if (self.root / JOURNAL_DIR).is_dir():
            with store_lock(self.root, wait=False) as held:
                if held:
                    recover(self.root)

    def __repr__(self) -> str:
        return f"DataStore({str(self.root)!r})"

    def _write(self, kind: DatasetKind, directory: Path, columns: Columns,
               metadata: dict[str, str], symbol: str) -> WriteResult:
        if columns["ts"].shape[0] == 0:
            return WriteResult(0, 0, 0, ())
        with store_lock(self.root):
            recover(self.root)
            return self._merge_and_commit(kind, directory, columns, metadata, symbol)

    def _merge_and_commit(self, kind: DatasetKind, directory: Path, columns: Columns,
                          metadata: dict[str, str], symbol: str) -> WriteResult:
        fields = _FIELDS[kind]
        unit = partition_unit(kind)
        labels = _partition_labels(columns["ts"], unit)
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        ends = np.r_[starts[1:], labels.shape[0]]
        tables: list[tuple[Path, pa.Table]] = []
        added = replaced = unchanged = 0
        merge = merge_bars if kind == "bars" else merge_ticks
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            path = directory / f"{labels[lo]}.parquet"
            incoming = {name: values[lo:hi] for name, values in columns.items()}
            if path.exists():
                old = _table_columns(_read_partition(path, fields, symbol), fields)
                merged, n_added, n_replaced, n_same = merge(old, incoming, fields)
            else:
                merged, n_added, n_replaced, n_same = incoming, hi - lo, 0, 0
            added, replaced, unchanged = added + n_added, replaced + n_replaced, unchanged + n_same
            if n_added or n_replaced:
                meta = dict(metadata)
                meta["first_ts"] = str(int(merged["ts"][0]))
                meta["last_ts"] = str(int(merged["ts"][-1]))
                if kind == "bars":
                    bars = BarSeries(symbol, merged["ts"], merged["open"], merged["high"],
                                     merged["low"], merged["close"], merged["volume"],
                                     timeframe_ns=int(metadata["timeframe_ns"]))
                    meta.update(encode_gaps(find_gaps(bars)))
                tables.append((path, _partition_table(merged, fields, meta)))
        commit(self.root, tables)
        result = WriteResult(added, replaced, unchanged, tuple(p for p, _ in tables))
        logger.info("%s: %s %s added %d, replaced %d, unchanged %d, %d partition(s) written",
                    self.root, kind, symbol, added, replaced, unchanged, len(tables))
        return result

    def write_bars(self, bars: BarSeries, *, venue: str = "SIM",
                   timeframe: Timeframe | str | None = None) -> WriteResult:
        """Add bars to the store; a bar whose timestamp is already stored replaces it.

        Parameters
        ----------
        bars : BarSeries
            Strictly increasing timestamps and finite values.
        venue : str, default "SIM"
        timeframe : Timeframe or str, optional
            The bar length; defaults to ``bars.timeframe_ns``.

        Returns
        -------
        WriteResult

        Raises
        ------
        ConfigError
            No timeframe given and the series does not know its own.
        DataError
            Timestamps not strictly increasing, values not finite, or a stored partition
            unreadable. Nothing is written then.

        Notes
        -----
        The incoming bar wins over the stored one with the same timestamp (corrected data
        replaces old data); the stored series stays strictly increasing.
        """
        if timeframe is None:
            if bars.timeframe_ns <= 0:
                raise ConfigError(
                    f"bars of {bars.symbol!r} ({bars.source or 'no source'}) do not know their "
                    "length: pass timeframe=, such as '1m' or '1d'"
                )
            frame = Timeframe(bars.timeframe_ns)
        else:
            frame = parse_timeframe(timeframe)
            if bars.timeframe_ns and bars.timeframe_ns != frame.ns:
                logger.warning("%s: bars look like %s but are stored as %s", bars.symbol,
                               Timeframe(bars.timeframe_ns).label, frame.label)
        fields = _FIELDS["bars"]
        columns: Columns = {"ts": np.asarray(bars.ts, dtype=np.int64)}
        columns.update({f: np.asarray(getattr(bars, f), dtype=np.float64) for f in fields})
        _check_columns(columns, fields, f"write_bars({bars.symbol!r})", strictly_increasing=True)
        directory = dataset_dir(self.root, "bars", venue, bars.symbol, frame)
        metadata = {"format": FORMAT_VERSION, "kind": "bars", "venue": venue,
                    "symbol": bars.symbol, "timeframe_ns": str(frame.ns)}
        return self._write("bars", directory, columns, metadata, bars.symbol)

    def write_ticks(self, ticks: QuoteSeries | TradeSeries, *, venue: str = "SIM"
                    ) -> WriteResult:
        """Add quotes or trades to the store, skipping those already stored.

        Parameters
        ----------
        ticks : QuoteSeries or TradeSeries
            Non-decreasing timestamps and finite values.
        venue : str, default "SIM"

        Returns
        -------
        WriteResult
            ``rows_unchanged`` counts the incoming ticks found already stored.

        Raises
        ------
        DataError
            Timestamps out of order or values not finite; nothing is written then.

        Notes
        -----
        Ticks may share a timestamp, so only exact duplicates (same timestamp and values) are
        merged: for each distinct row the store keeps as many copies as the larger of the
        stored and incoming counts. Writing the same ticks twice leaves the store unchanged.
        At equal timestamps, stored ticks come before newly added ones.
        """
        kind: DatasetKind = "quotes" if isinstance(ticks, QuoteSeries) else "trades"
        fields = _FIELDS[kind]
        columns: Columns = {"ts": np.asarray(ticks.ts, dtype=np.int64)}
        columns.update({f: np.asarray(getattr(ticks, f), dtype=np.float64) for f in fields})
        _check_columns(columns, fields, f"write_ticks({ticks.symbol!r})",
                       strictly_increasing=False)
        directory = dataset_dir(self.root, kind, venue, ticks.symbol)
        metadata = {"format": FORMAT_VERSION, "kind": kind, "venue": venue,
                    "symbol": ticks.symbol}
        return self._write(kind, directory, columns, metadata, ticks.symbol)

    def _read(self, kind: DatasetKind, directory: Path, symbol: str, what: str,
              start_ns: int | None, end_ns: int | None) -> Columns:
        fields = _FIELDS[kind]
        files = partition_files(directory)
        if not files:
            raise DataError(f"no {what} in the store at {self.root}; "
                            f"{describe_stored(self.root, symbol)}")
        lo = np.iinfo(np.int64).min if start_ns is None else int(start_ns)
        hi = np.iinfo(np.int64).max if end_ns is None else int(end_ns)
        unit = partition_unit(kind)
        tables = []
        for path in files:
            first, after = partition_bounds(path.stem, unit)
            if after <= lo or first > hi:
                continue
            inside = lo <= first and after - 1 <= hi
            tables.append(_read_partition(path, fields, symbol, None if inside else lo,
                                         None if inside else hi))
        if not tables:
            empty = np.zeros(0, dtype=np.float64)
            return {"ts": np.zeros(0, dtype=np.int64)} | {f: empty for f in fields}
        return _table_columns(pa.concat_tables(tables), fields)

    def read_bars(self, symbol: str, timeframe: Timeframe | str, *, venue: str = "SIM",
                  start_ns: int | None = None, end_ns: int | None = None) -> BarSeries:
        """Read stored bars, all of them or those with ``start_ns <= ts <= end_ns``.

        Parameters
        ----------
        symbol : str
        timeframe : Timeframe or str
        venue : str, default "SIM"
        start_ns, end_ns : int, optional
            Inclusive bounds, UTC nanoseconds.

        Returns
        -------
        BarSeries
            With ``timeframe_ns`` set and ``source`` like ``"store:SIM/GOOG/1d"``; empty when
            nothing is stored in the range.

        Raises
        ------
        DataError
            Nothing is stored for that symbol, bar length and venue (the message tells what is
            stored), or a partition is unreadable.
        """
        frame = parse_timeframe(timeframe)
        directory = dataset_dir(self.root, "bars", venue, symbol, frame)
        what = f"{frame.label} bars of {symbol!r} on {venue}"
        cols = self._read("bars", directory, symbol, what, start_ns, end_ns)
        o, h, lo, c, v = (cols[f] for f in _FIELDS["bars"])
        return BarSeries(symbol, cols["ts"], o, h, lo, c, v, timeframe_ns=frame.ns,
                         source=f"store:{venue}/{symbol}/{frame.label}")

    def read_ticks(self, symbol: str, kind: Literal["quote", "trade"], *, venue: str = "SIM",
                   start_ns: int | None = None, end_ns: int | None = None
                   ) -> QuoteSeries | TradeSeries:
        """Read stored quotes or trades, all of them or those with ``start_ns <= ts <= end_ns``.

        Parameters
        ----------
        symbol : str
        kind : {"quote", "trade"}
        venue : str, default "SIM"
        start_ns, end_ns : int, optional
            Inclusive bounds, UTC nanoseconds.

        Returns
        -------
        QuoteSeries or TradeSeries
            ``source`` like ``"store:SIM/EURUSD/quotes"``.

        Raises
        ------
        ConfigError
            Unknown kind.
        DataError
            Nothing stored (the message tells what is), or a partition is unreadable.
        """
        if kind not in _TICK_KINDS:
            raise ConfigError(f"unknown tick kind {kind!r}: use 'quote' or 'trade'")
        dataset = _TICK_KINDS[kind]
        directory = dataset_dir(self.root, dataset, venue, symbol)
        cols = self._read(dataset, directory, symbol, f"{dataset} of {symbol!r} on {venue}",
                          start_ns, end_ns)
        source = f"store:{venue}/{symbol}/{dataset}"
        ts, f = cols["ts"], cols
        if dataset == "quotes":
            return QuoteSeries(symbol, ts, f["bid"], f["ask"], f["bid_size"], f["ask_size"],
                               source)
        return TradeSeries(symbol, ts, f["price"], f["size"], source)

    def catalog(self) -> list[CatalogEntry]:
        """List every dataset in the store, from the Parquet footers only (no data is read).

        Returns
        -------
        list of CatalogEntry
            Bars first, then ticks; by venue, symbol and bar length or kind.
        """
        return build_catalog(self.root)

    def inspect(self, symbol: str, timeframe: Timeframe | str, *, venue: str = "SIM"
                ) -> CatalogEntry:
        """Load one bar dataset and describe it, with every gap found in the data itself.

        Returns
        -------
        CatalogEntry

        Raises
        ------
        DataError
            Nothing stored for it (the message tells what is).
        """
        bars = self.read_bars(symbol, timeframe, venue=venue)
        frame = parse_timeframe(timeframe)
        gaps = tuple(find_gaps(bars))
        directory = dataset_dir(self.root, "bars", venue, symbol, frame)
        return CatalogEntry(
            kind="bars", venue=venue, symbol=symbol, timeframe=frame.label,
            first_ts=int(bars.ts[0]), last_ts=int(bars.ts[-1]), rows=len(bars),
            partitions=len(partition_files(directory)), gap_count=len(gaps),
            missing_bars=sum(g.missing_bars for g in gaps), gaps=gaps, path=directory,
        )

    def delete(self, symbol: str, *, kind: Literal["bars", "quote", "trade"] = "bars",
               timeframe: Timeframe | str | None = None, venue: str = "SIM") -> int:
        """Remove one dataset: a symbol's bars of one length, or its quotes or trades.

        Returns
        -------
        int
            The number of partition files removed (0 when there was nothing).

        Raises
        ------
        ConfigError
            Bars without a timeframe, or an unknown kind.
        """
        if kind == "bars":
            if timeframe is None:
                raise ConfigError("delete bars needs timeframe=, such as '1m' or '1d'")
            directory = dataset_dir(self.root, "bars", venue, symbol, parse_timeframe(timeframe))
        elif kind in _TICK_KINDS:
            directory = dataset_dir(self.root, _TICK_KINDS[kind], venue, symbol)
        else:
            raise ConfigError(f"unknown kind {kind!r}: use 'bars', 'quote' or 'trade'")
        count = len(partition_files(directory))
        if directory.exists():
            doomed = directory.with_name(f".{directory.name}.{uuid4().hex[:12]}.deleted")
            os.replace(directory, doomed)  # one atomic step hides the whole dataset
            shutil.rmtree(doomed)
        return count

    def import_file(self, path: str | os.PathLike[str], *, symbol: str | None = None,
                    timeframe: Timeframe | str | None = None, timezone: str = "UTC",
                    venue: str = "SIM", repair: bool = False,
                    kind: Literal["auto", "bars", "quote", "trade"] = "auto") -> ImportResult:
        """Load a CSV or Parquet file of bars, quotes or trades, validate it and store it.

        Parameters
        ----------
        path : str or path-like
        symbol : str, optional
            Defaults to the file name without extension, upper-cased.
        timeframe : Timeframe or str, optional
            Bars only; defaults to the most common step between the file's bars.
        timezone : str, default "UTC"
            IANA timezone of naive timestamps.
        venue : str, default "SIM"
        repair : bool, default False
            Drop bad rows and sort instead of rejecting the file (see :func:`load_bars` and
            :func:`load_ticks`).
        kind : {"auto", "bars", "quote", "trade"}, default "auto"
            ``"auto"`` decides from the columns: open/high/low/close are bars, bid/ask quotes,
            price/size trades.

        Returns
        -------
        ImportResult
            With the validation report and what the write changed.

        Raises
        ------
        DataError
            A rejected file: unknown columns, timestamps mixing timezones, a bad row (without
            ``repair``), an unreadable file. The store is left exactly as it was.
        ConfigError
            Unknown timezone or kind; bars whose length cannot be inferred and no timeframe.
        """
        if kind not in ("auto", "bars", "quote", "trade"):
            raise ConfigError(f"unknown kind {kind!r}: use 'auto', 'bars', 'quote' or 'trade'")
        found = detect_kind(path) if kind == "auto" else kind
        if found == "bars":
            loaded = load_bars(path, symbol=symbol, timezone=timezone, repair=repair)
            bars = loaded.bars
            frame = parse_timeframe(timeframe) if timeframe is not None else None
            written = self.write_bars(bars, venue=venue, timeframe=frame)
            label = (frame or Timeframe(bars.timeframe_ns)).label
            return ImportResult("bars", venue, bars.symbol, label, loaded.report, written)
        ticks = load_ticks(path, symbol=symbol, timezone=timezone, kind=found, repair=repair)
        written = self.write_ticks(ticks.ticks, venue=venue)
        return ImportResult(_TICK_KINDS[found], venue, ticks.ticks.symbol, None, ticks.report,
                            written)


__all__ = ["DataStore", "ImportResult", "WriteResult"]
