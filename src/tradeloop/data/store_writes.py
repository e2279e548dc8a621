"""How a write to the data store happens: merge the incoming rows with the stored ones, then
commit every rewritten partition all or nothing.

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
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from uuid import uuid4

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloop.data.catalog import JOURNAL_DIR, ROW_GROUP_ROWS, Columns
from tradeloop.model.data import IntArray

logger = logging.getLogger(__name__)


def select(columns: Columns, mask: npt.NDArray[np.bool_] | IntArray) -> Columns:
    """The rows ``mask`` picks, in every column."""
    return {name: values[mask] for name, values in columns.items()}


def merge_bars(old: Columns, new: Columns, fields: tuple[str, ...]
                ) -> tuple[Columns, int, int, int]:
    """Incoming bars replace stored bars with the same timestamp (``old`` is not empty)."""
    old_ts, new_ts = old["ts"], new["ts"]
    at = np.searchsorted(old_ts, new_ts)
    clipped = np.minimum(at, old_ts.shape[0] - 1)
    stored = old_ts[clipped] == new_ts
    same = stored.copy()
    for name in fields:
        same &= old[name][clipped] == new[name]
    unchanged = int(same.sum())
    replaced = int(stored.sum()) - unchanged
    added = int(new_ts.shape[0]) - int(stored.sum())
    if added == 0 and replaced == 0:
        return old, 0, 0, unchanged
    keep_old = np.ones(old_ts.shape[0], dtype=np.bool_)
    keep_old[at[stored]] = False
    merged = {name: np.concatenate([old[name][keep_old], new[name]]) for name in old}
    order = np.argsort(merged["ts"], kind="stable")
    return select(merged, order), added, replaced, unchanged


def merge_ticks(old: Columns, new: Columns, fields: tuple[str, ...]
                 ) -> tuple[Columns, int, int, int]:
    """Add the incoming ticks the stored ones do not already account for.

    Rows are compared as whole (timestamp and every value). For each distinct row, the result
    holds as many copies as the larger of the stored and the incoming count: re-importing a
    file changes nothing, and two identical prints inside one file both stay.
    """
    old_ts, new_ts = old["ts"], new["ts"]
    maybe = np.isin(new_ts, old_ts)
    fresh = ~maybe
    if maybe.any():
        keys = ["ts", *fields]
        in_old = np.isin(old_ts, new_ts[maybe])
        stored = pd.DataFrame({k: old[k][in_old] for k in keys})
        incoming = pd.DataFrame({k: new[k][maybe] for k in keys})
        stored["occurrence"] = stored.groupby(keys, sort=False).cumcount()
        incoming["occurrence"] = incoming.groupby(keys, sort=False).cumcount()
        matched = incoming.merge(stored, on=[*keys, "occurrence"], how="left", indicator=True)
        fresh[np.flatnonzero(maybe)] = (matched["_merge"] == "left_only").to_numpy()
    added = int(fresh.sum())
    unchanged = int(new_ts.shape[0]) - added
    if added == 0:
        return old, 0, 0, unchanged
    merged = {name: np.concatenate([old[name], new[name][fresh]]) for name in old}
    order = np.argsort(merged["ts"], kind="stable")
    return select(merged, order), added, 0, unchanged


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


__all__ = ["commit", "merge_bars", "merge_ticks", "recover", "select", "store_lock"]
