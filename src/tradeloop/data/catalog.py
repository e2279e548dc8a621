"""Layout and files of the Parquet data store, and its catalog.

Layout under the store's root (every name part made safe by :func:`encode_name`)::

    bars/<venue>/<symbol>/<timeframe label>/<year>.parquet    bars/SIM/BTC%2FUSDT/1m/2024.parquet
    ticks/<venue>/<symbol>/<quote|trade>/<yyyy-mm>.parquet    ticks/SIM/EURUSD/quote/2024-03.parquet
    .journal/<id>.json                                        the plan of a write in progress

A partition holds the rows whose UTC timestamp falls in its year (bars) or month (ticks), sorted
by time, in row groups of :data:`ROW_GROUP_ROWS` rows with statistics. Its Parquet footer
carries the real symbol, venue, kind, bar length, first and last timestamp and, for bars, the
gaps inside the partition, so the catalog is built from footers alone.

How a write is made all or nothing: :mod:`tradeloop.data.store_writes`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_iso
from tradeloop.data.gaps import Gap, find_gaps
from tradeloop.data.timeframes import Timeframe, parse_timeframe
from tradeloop.model.data import BarSeries

DatasetKind = Literal["bars", "quotes", "trades"]
Columns = dict[str, npt.NDArray[Any]]

logger = logging.getLogger(__name__)

BARS_DIR = "bars"
TICKS_DIR = "ticks"
TICK_DIRS: dict[DatasetKind, str] = {"quotes": "quote", "trades": "trade"}
"""Directory of each tick kind under a symbol."""
SUFFIX = ".parquet"
META_PREFIX = "tradeloop."
ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group: the unit a range read can skip."""
JOURNAL_DIR = ".journal"
MAX_LISTED_GAPS = 5_000
"""Gaps listed in one partition's footer; beyond this only their count is kept."""

TS_TYPE = pa.timestamp("ns", tz="UTC")
_PARTITION_NAME = re.compile(r"^\d{4}(-\d{2})?$")
_SAFE = re.compile(r"[A-Za-z0-9_.\-]")
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(10)}


def encode_name(text: str) -> str:
    """Turn a symbol or venue into a directory name that is safe everywhere and reversible.

    Letters, digits, ``_``, ``-`` and ``.`` are kept; every other character (``/``, ``:``,
    spaces, ``%``, non-ASCII) becomes ``%XX`` per UTF-8 byte, as do a leading or trailing dot
    and the first letter of a name Windows reserves (``CON``, ``NUL``...). So ``"BTC/USDT"``
    is ``"BTC%2FUSDT"`` and ``"EURUSD.m"`` stays ``"EURUSD.m"``.

    Parameters
    ----------
    text : str
        A non-empty name.

    Returns
    -------
    str
        The directory name; :func:`decode_name` gives ``text`` back exactly.

    Raises
    ------
    DataError
        For an empty name.
    """
    if not text:
        raise DataError("a symbol or venue name must not be empty")
    out = [c if _SAFE.match(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text]
    if text[0] == ".":
        out[0] = "%2E"
    if text[-1] == ".":
        out[-1] = "%2E"
    if text.split(".", maxsplit=1)[0].upper() in _RESERVED:
        out[0] = f"%{ord(text[0]):02X}"
    return "".join(out)


def decode_name(name: str) -> str:
    """Return the symbol or venue a directory name stands for (the inverse of encode_name)."""
    return unquote(name, errors="strict")


def partition_unit(kind: DatasetKind) -> Literal["Y", "M"]:
    """The numpy datetime unit of a kind's partitions: ``"Y"`` for bars, ``"M"`` for ticks."""
    return "Y" if kind == "bars" else "M"


def partition_bounds(label: str, unit: Literal["Y", "M"]) -> tuple[int, int]:
    """UTC nanoseconds ``[start, end)`` covered by the partition named ``label``.

    Parameters
    ----------
    label : str
        ``"2024"`` (a year) or ``"2024-03"`` (a month).
    unit : {"Y", "M"}

    Returns
    -------
    tuple of (int, int)
    """
    start = np.datetime64(label, unit)
    return (
        int(start.astype("M8[ns]").astype(np.int64)),
        int((start + 1).astype("M8[ns]").astype(np.int64)),
    )


def dataset_dir(
    root: Path, kind: DatasetKind, venue: str, symbol: str, timeframe: Timeframe | None = None
) -> Path:
    """The directory of one dataset: a symbol's bars of one length, or its quotes or trades."""
    if kind == "bars":
        if timeframe is None:
            raise ValueError("bars need a timeframe")
        return root / BARS_DIR / encode_name(venue) / encode_name(symbol) / timeframe.label
    return root / TICKS_DIR / encode_name(venue) / encode_name(symbol) / TICK_DIRS[kind]


def partition_files(directory: Path) -> list[Path]:
    """The partitions of a dataset, oldest first (files not named like one are left out)."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir()
             if p.suffix == SUFFIX and _PARTITION_NAME.match(p.stem) and p.is_file()]
    return sorted(files, key=lambda p: p.stem)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What the store holds for one dataset.

    Attributes
    ----------
    kind : {"bars", "quotes", "trades"}
    venue, symbol : str
    timeframe : str or None
        The bar length label (``"1m"``), None for ticks.
    first_ts, last_ts : int
        First and last timestamps, UTC nanoseconds.
    rows : int
    partitions : int
        Number of partition files.
    gap_count : int
        Gaps in the bars (see :func:`tradeloop.data.find_gaps`); 0 for ticks.
    missing_bars : int
        Bars missing in those gaps.
    gaps : tuple of Gap or None
        The gaps themselves; None when a partition had too many to list (use
        :meth:`DataStore.inspect`, which loads the data).
    path : Path
        The dataset's directory.
    """

    kind: DatasetKind
    venue: str
    symbol: str
    timeframe: str | None
    first_ts: int
    last_ts: int
    rows: int
    partitions: int
    gap_count: int
    missing_bars: int
    gaps: tuple[Gap, ...] | None
    path: Path

    def summary(self) -> str:
        """Return a one-line description.

        Returns
        -------
        str
            For example ``"bars SIM/GOOG 1d: 2148 rows, 2004-08-19T00:00:00Z to
            2013-03-01T00:00:00Z, 77 gaps (79 missing bars)"``.
        """
        what = f"{self.kind} {self.venue}/{self.symbol}"
        if self.timeframe:
            what += f" {self.timeframe}"
        text = (f"{what}: {self.rows} rows, {ns_to_iso(self.first_ts)} to "
                f"{ns_to_iso(self.last_ts)}")
        if self.kind == "bars":
            text += f", {self.gap_count} gaps ({self.missing_bars} missing bars)"
        return text


def _footer(path: Path) -> tuple[int, dict[str, str]]:
    try:
        meta = pq.read_metadata(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        reason = " ".join(str(exc).split())
        raise DataError(
            f"{path}: store partition is unreadable ({reason}); move it away and re-import"
        ) from exc
    raw = meta.metadata or {}
    values = {
        k.decode()[len(META_PREFIX):]: v.decode()
        for k, v in raw.items() if k.decode().startswith(META_PREFIX)
    }
    return int(meta.num_rows), values


def gaps_between(last_ts: int, first_ts: int, timeframe_ns: int) -> list[Gap]:
    """The gap, if any, between the last bar of one partition and the first of the next."""
    ts = np.array([last_ts, first_ts], dtype=np.int64)
    flat = np.zeros(2, dtype=np.float64)
    return find_gaps(BarSeries("", ts, flat, flat, flat, flat, flat, timeframe_ns))


def encode_gaps(gaps: list[Gap]) -> dict[str, str]:
    """Footer entries for a partition's gaps: their count, missing bars and (if few) the list."""
    entries = {
        "gap_count": str(len(gaps)),
        "missing_bars": str(sum(g.missing_bars for g in gaps)),
    }
    if len(gaps) <= MAX_LISTED_GAPS:
        entries["gaps"] = json.dumps([[g.start_ns, g.end_ns, g.missing_bars] for g in gaps])
    return entries


def read_entry(directory: Path, kind: DatasetKind, venue: str, symbol: str,
               timeframe: str | None) -> CatalogEntry | None:
    """Build the catalog entry of one dataset from its partitions' footers.

    Returns
    -------
    CatalogEntry or None
        None when the dataset has no partition.
    """
    files = partition_files(directory)
    if not files:
        return None
    rows = 0
    footers = []
    for file in files:
        count, values = _footer(file)
        if count:
            rows += count
            footers.append(values)
    if not footers:
        return None
    gap_count = missing = 0
    gaps: list[Gap] | None = [] if kind == "bars" else None
    previous_last: int | None = None
    for values in footers:
        if kind != "bars":
            continue
        timeframe_ns = int(values["timeframe_ns"])
        if previous_last is not None:
            between = gaps_between(previous_last, int(values["first_ts"]), timeframe_ns)
            gap_count += len(between)
            missing += sum(g.missing_bars for g in between)
            if gaps is not None:
                gaps.extend(between)
        gap_count += int(values.get("gap_count", "0"))
        missing += int(values.get("missing_bars", "0"))
        if gaps is not None and "gaps" in values:
            gaps.extend(Gap(int(a), int(b), int(n)) for a, b, n in json.loads(values["gaps"]))
        else:
            gaps = None
        previous_last = int(values["last_ts"])
    return CatalogEntry(
        kind=kind,
        venue=venue,
        symbol=symbol,
        timeframe=timeframe,
        first_ts=int(footers[0]["first_ts"]),
        last_ts=int(footers[-1]["last_ts"]),
        rows=rows,
        partitions=len(files),
        gap_count=gap_count,
        missing_bars=missing,
        gaps=None if gaps is None else tuple(gaps),
        path=directory,
    )


def _subdirs(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _length_order(leaf: Path) -> tuple[int, str]:
    try:
        return parse_timeframe(leaf.name).ns, leaf.name
    except ConfigError:
        return np.iinfo(np.int64).max, leaf.name


def datasets(root: Path) -> list[tuple[Path, DatasetKind, str, str, str | None]]:
    """Every dataset directory: ``(path, kind, venue, symbol, timeframe label or None)``.

    Only directory names are read, in a stable order (bars first, then ticks; by venue,
    symbol, then bar length shortest first, or quotes before trades).
    """
    found: list[tuple[Path, DatasetKind, str, str, str | None]] = []
    kinds: dict[str, DatasetKind] = {"quote": "quotes", "trade": "trades"}
    for top in (BARS_DIR, TICKS_DIR):
        for venue_dir in _subdirs(root / top):
            for symbol_dir in _subdirs(venue_dir):
                venue, symbol = decode_name(venue_dir.name), decode_name(symbol_dir.name)
                for leaf in sorted(_subdirs(symbol_dir), key=_length_order):
                    if top == BARS_DIR:
                        found.append((leaf, "bars", venue, symbol, leaf.name))
                    elif leaf.name in kinds:
                        kind: DatasetKind = kinds[leaf.name]
                        found.append((leaf, kind, venue, symbol, None))
    return found


def build_catalog(root: Path) -> list[CatalogEntry]:
    """The catalog of a store: one entry per non-empty dataset, from footers only."""
    entries = []
    for path, kind, venue, symbol, timeframe in datasets(root):
        entry = read_entry(path, kind, venue, symbol, timeframe)
        if entry is not None:
            entries.append(entry)
    return entries


def describe_stored(root: Path, symbol: str) -> str:
    """A sentence telling what the store holds for ``symbol``, or which symbols it holds."""
    mine: list[str] = []
    symbols: set[str] = set()
    for path, kind, venue, stored, timeframe in datasets(root):
        if not partition_files(path):
            continue
        symbols.add(stored)
        if stored == symbol:
            mine.append(f"{timeframe} bars on {venue}" if kind == "bars" else f"{kind} on {venue}")
    if mine:
        return f"stored for {symbol!r}: {', '.join(mine)}"
    if not symbols:
        return f"the store at {root} is empty"
    listed = sorted(symbols)
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    return f"nothing is stored for {symbol!r}; stored symbols: {', '.join(listed[:20])}{more}"


__all__ = [
    "ROW_GROUP_ROWS",
    "TS_TYPE",
    "CatalogEntry",
    "Columns",
    "DatasetKind",
    "build_catalog",
    "decode_name",
    "describe_stored",
    "encode_name",
]
