"""Layout and files of the Parquet data store, its atomic commits and its catalog.

Layout under the store's root (every name part made safe by :func:`encode_name`)::

    bars/<venue>/<symbol>/<timeframe label>/<year>.parquet    bars/SIM/BTC%2FUSDT/1m/2024.parquet
    ticks/<venue>/<symbol>/<quote|trade>/<yyyy-mm>.parquet    ticks/SIM/EURUSD/quote/2024-03.parquet
    .journal/<id>.json                                        the plan of a write in progress

A partition holds the rows whose UTC timestamp falls in its year (bars) or month (ticks), sorted
by time, in row groups of :data:`ROW_GROUP_ROWS` rows with statistics. Its Parquet footer
carries the real symbol, venue, kind, bar length, first and last timestamp and, for bars, the
gaps inside the partition, so the catalog is built from footers alone.

Write guarantee
---------------
:func:`commit` is all or nothing across the partitions of one write. Each new partition is first
written in full to a hidden temporary file next to the old one and synced; the old files are
kept as hard links (or copies); a journal records the plan; only then are the new files moved
into place with ``os.replace``. If anything fails before the move, the temporary files are
removed and the store is untouched. If a move fails, the partitions already moved are put back
from the kept files before the error is raised. If the process dies half-way, the journal is
still there and :func:`recover` (run whenever a store is opened) puts the old partitions back.
Readers see each partition either whole-old or whole-new; a reader running *during* a
multi-partition commit may see some partitions new and others old. Writers take an exclusive
lock on ``.journal/lock`` (``flock`` on POSIX, ``msvcrt.locking`` on Windows) for the whole
read-merge-write, so concurrent writers queue; recovery runs only when no writer holds the lock.
Locks on network file systems are only as good as the file system's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import unquote
from uuid import uuid4

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

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


@dataclass(frozen=True, slots=True)
class _Staged:
    final: Path
    temp: Path
    backup: Path | None


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _save_journal(root: Path, journal: Path, phase: str, staged: list[_Staged],
                  created: list[Path]) -> None:
    record = {
        "phase": phase,
        "files": [
            {"final": _relative(root, s.final), "temp": _relative(root, s.temp),
             "backup": None if s.backup is None else _relative(root, s.backup)}
            for s in staged
        ],
        "created_dirs": [_relative(root, d) for d in created],
    }
    temp = journal.with_name(f".{journal.name}.tmp")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, journal)


def _roll_back(root: Path, journal: Path) -> None:
    """Undo an unfinished write as recorded in its journal, then drop the journal."""
    record = json.loads(journal.read_text(encoding="utf-8"))
    for entry in record["files"]:
        final, temp = root / entry["final"], root / entry["temp"]
        backup = None if entry["backup"] is None else root / entry["backup"]
        if record["phase"] == "commit":
            if backup is not None and backup.exists():
                os.replace(backup, final)
            elif backup is None:
                final.unlink(missing_ok=True)
        temp.unlink(missing_ok=True)
        if backup is not None:
            backup.unlink(missing_ok=True)
    for directory in reversed(record["created_dirs"]):
        with contextlib.suppress(OSError):  # not empty: another dataset lives there
            (root / directory).rmdir()
    journal.unlink()


def _finish(root: Path, journal: Path) -> None:
    record = json.loads(journal.read_text(encoding="utf-8"))
    for entry in record["files"]:
        for key in ("temp", "backup"):
            if entry[key] is not None:
                (root / entry[key]).unlink(missing_ok=True)
    journal.unlink()


def _try_lock(handle: BinaryIO, wait: bool) -> bool:
    while True:
        try:
            if sys.platform == "win32":
                handle.seek(0)  # msvcrt locks bytes from the current position
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if not wait:
                return False
            time.sleep(0.05)
        else:
            return True


@contextlib.contextmanager
def store_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the store's exclusive write lock for the duration of a ``with`` block.

    Parameters
    ----------
    root : Path
        The store's root directory (``.journal`` is created in it).
    wait : bool, default True
        Wait for another writer to finish; with False, yield False at once instead.

    Yields
    ------
    bool
        True when the lock is held.
    """
    directory = root / JOURNAL_DIR
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lock").open("a+b") as handle:
        if not _try_lock(handle, wait):
            yield False
            return
        try:
            yield True
        finally:
            if sys.platform == "win32":
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def recover(root: Path) -> int:
    """Put back the partitions of writes interrupted by a crash, as their journals record.

    Call it while holding :func:`store_lock`, so that no write in progress is mistaken for an
    interrupted one.

    Parameters
    ----------
    root : Path
        The store's root directory.

    Returns
    -------
    int
        The number of interrupted writes undone (finished ones are only cleaned up).
    """
    directory = root / JOURNAL_DIR
    if not directory.is_dir():
        return 0
    undone = 0
    for stray in directory.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    for journal in sorted(directory.glob("*.json")):
        phase = json.loads(journal.read_text(encoding="utf-8"))["phase"]
        if phase == "done":
            _finish(root, journal)
            continue
        logger.warning("undoing an interrupted store write (%s, phase %s)", journal.name, phase)
        _roll_back(root, journal)
        undone += 1
    return undone


def _write_parquet(table: pa.Table, path: Path) -> None:
    with path.open("xb") as handle:
        pq.write_table(
            table, handle, row_group_size=ROW_GROUP_ROWS, compression="zstd",
            sorting_columns=[pq.SortingColumn(0)],
        )
        handle.flush()
        os.fsync(handle.fileno())


def _keep_old(final: Path, backup: Path) -> None:
    try:
        os.link(final, backup)
    except OSError:
        shutil.copy2(final, backup)


def _missing_dirs(root: Path, paths: list[Path]) -> list[Path]:
    missing: list[Path] = []
    for path in paths:
        directory = path.parent
        chain = []
        while directory != root and not directory.exists():
            chain.append(directory)
            directory = directory.parent
        missing.extend(d for d in reversed(chain) if d not in missing)
    return missing


def commit(root: Path, tables: list[tuple[Path, pa.Table]]) -> None:
    """Replace or create several partition files, all or nothing (see the module notes).

    Parameters
    ----------
    root : Path
        The store's root directory.
    tables : list of (Path, pyarrow.Table)
        Each partition's final path and its complete new content.
    """
    if not tables:
        return
    txid = uuid4().hex[:12]
    staged = [
        _Staged(final, final.with_name(f".{final.name}.{txid}.tmp"),
                final.with_name(f".{final.name}.{txid}.bak") if final.exists() else None)
        for final, _ in tables
    ]
    journal = root / JOURNAL_DIR / f"{txid}.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    created = _missing_dirs(root, [s.final for s in staged])
    _save_journal(root, journal, "staging", staged, created)
    try:
        for directory in created:
            directory.mkdir(exist_ok=True)
        for entry, (_, table) in zip(staged, tables, strict=True):
            _write_parquet(table, entry.temp)
        for entry in staged:
            if entry.backup is not None:
                _keep_old(entry.final, entry.backup)
        _save_journal(root, journal, "commit", staged, created)
    except BaseException:
        _roll_back(root, journal)
        raise
    try:
        for entry in staged:
            os.replace(entry.temp, entry.final)
    except BaseException:
        _roll_back(root, journal)
        raise
    _save_journal(root, journal, "done", staged, created)
    _finish(root, journal)


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
    "commit",
    "decode_name",
    "describe_stored",
    "encode_name",
    "recover",
    "store_lock",
]
