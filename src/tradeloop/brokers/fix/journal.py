"""The file a FIX session keeps its state in: an append-only journal of framed records.

A session's store (sequence numbers, sent messages) and its order book write their changes as
records to one journal file (``<store_dir>/<session>.fixlog``) and read them all back when they
open. An append is one ``pwrite`` at the end of the records, so the order path pays for no
database; ``durable=True`` also waits for the disk (``fdatasync``) when the journal syncs, which
makes everything appended before it durable too: the session syncs before each message goes out,
and the book's changes ride on that. The file is allocated ahead of the records, a megabyte at a
time, so that a sync writes the records alone and not, every time, the file's new size too (a
third to a half less time per sync on ext4); the zeros past the last record are not records, and
closing the journal cuts them off.

Each record is framed as ``length (4 bytes) | crc32 (4) | kind (1) | payload``; a frame of zeros
(kind 0, which no record uses) marks the allocated space after the last record. A crash can
leave a torn last record; it is cut off when the file is next opened (and logged), never read.
A journal grows until :meth:`Journal.compact` rewrites it from its owners' current state
(atomically: a new file beside it, synced, then renamed over it).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import ClassVar

from tradeloop.core.errors import DataError

logger = logging.getLogger(__name__)

_FRAME = struct.Struct("<IIB")
_MAGIC = b"tradeloop fix journal 1\n"
#: The record kinds of the file itself; owners use kinds from 1 up.
HEADER = 0

Record = tuple[int, bytes]
#: How much file is allocated ahead of the records at a time.
ALLOCATE_BYTES = 1 << 20


class Journal:
    """An append-only record file, shared by the parts of one session that open the same path.

    Use :meth:`open` (not the constructor): a second ``open`` of the same path in a process
    returns the same journal, and it closes when the last user closes it.

    Parameters
    ----------
    path : Path
    sync : bool
        Whether ``durable`` appends wait for the disk.

    Raises
    ------
    DataError
        The file cannot be opened or is not a journal.
    """

    _shared: ClassVar[dict[Path, Journal]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, *, sync: bool) -> None:
        self.path = path
        self.sync = sync
        self._users = 0
        self._owners: dict[int, Callable[[], Iterable[Record]]] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataError(f"FIX store {path}: cannot open: {exc.strerror}") from None
        self._end = self._allocated = 0  # where the next record goes; the file's size
        try:
            self._check()
            for _ in self._scan():  # finds the end of the records
                pass
        except DataError:
            os.close(self._fd)
            raise

    @classmethod
    def open(cls, path: Path, *, sync: bool) -> Journal:
        """The journal at ``path`` (shared within the process); call :meth:`close` when done.
        A journal shared with a syncing user syncs."""
        key = Path(os.path.abspath(path))
        with cls._shared_lock:
            journal = cls._shared.get(key)
            if journal is None:
                journal = cls._shared[key] = cls(key, sync=sync)
            journal.sync = journal.sync or sync
            journal._users += 1
            return journal

    # -- writing ----------------------------------------------------------------------------

    def append(self, kind: int, payload: bytes, *, durable: bool = False) -> None:
        """Write one record; with ``durable``, on disk (with all before it) when this returns,
        if the journal syncs."""
        self._write(_frame(kind, payload))
        if durable and self.sync:
            os.fdatasync(self._fd)

    def append_many(self, records: Iterable[Record], *, durable: bool = False) -> None:
        """Write records in one ``write``."""
        self._write(b"".join(_frame(kind, payload) for kind, payload in records))
        if durable and self.sync:
            os.fdatasync(self._fd)

    def _write(self, data: bytes) -> None:
        end = self._end + len(data)
        if end > self._allocated:
            size = max(end, self._allocated + ALLOCATE_BYTES)
            try:
                _allocate(self._fd, 0, size)
            except (OSError, AttributeError):  # not on this system: the writes extend the file
                size = end
            self._allocated = size
        os.pwrite(self._fd, data, self._end)
        self._end = end

    def flush(self) -> None:
        """Put everything appended so far on disk."""
        os.fsync(self._fd)

    # -- compaction -------------------------------------------------------------------------

    def own(self, kinds: Iterable[int], snapshot: Callable[[], Iterable[Record]]) -> None:
        """Declare ``kinds`` as one owner's: :meth:`compact` replaces their records with what
        ``snapshot`` returns (its current state), and keeps other kinds' records as they are."""
        for kind in kinds:
            self._owners[kind] = snapshot

    def disown(self, kinds: Iterable[int]) -> None:
        """An owner closes: its records stay as they are at the next compaction."""
        for kind in kinds:
            self._owners.pop(kind, None)

    def compact(self) -> None:
        """Rewrite the file as its owners' current state (plus other owners' records
        unchanged), atomically."""
        fresh = self.path.with_name(self.path.name + ".compact")
        snapshots = {id(s): s for s in self._owners.values()}
        with open(fresh, "wb") as out:
            out.write(_MAGIC)
            for snapshot in snapshots.values():
                out.write(b"".join(_frame(kind, payload) for kind, payload in snapshot()))
            out.write(b"".join(_frame(kind, payload) for kind, payload in self._scan()
                               if kind not in self._owners and kind != HEADER))
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, self.path)
        _sync_dir(self.path.parent)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR)
        self._end = self._allocated = os.fstat(self._fd).st_size

    def size(self) -> int:
        """The size of the records in bytes (the file's allocated space past them aside)."""
        return self._end

    def close(self) -> None:
        """One user done; the last one syncs and closes the file."""
        with self._shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            self._shared.pop(self.path, None)
        try:
            os.ftruncate(self._fd, self._end)  # the space allocated ahead goes
            os.fsync(self._fd)
        finally:
            os.close(self._fd)

    # -- reading ----------------------------------------------------------------------------

    def records(self) -> list[Record]:
        """Every record in the file, in the order written (read afresh)."""
        return list(self._scan())

    def _check(self) -> None:
        if os.fstat(self._fd).st_size == 0:
            os.pwrite(self._fd, _MAGIC, 0)
            return
        if os.pread(self._fd, len(_MAGIC), 0) != _MAGIC:
            raise DataError(f"FIX store {self.path}: not a session journal (written by "
                            "something else, or by an older version)")

    def _scan(self) -> Iterator[Record]:
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        at, end = len(_MAGIC), len(data)
        while at < end:
            if at + _FRAME.size > end:
                break
            length, crc, kind = _FRAME.unpack_from(data, at)
            if kind == HEADER and length == 0 and crc == 0:
                break  # the space allocated ahead of the records
            start = at + _FRAME.size
            payload = data[start:start + length]
            if len(payload) < length or zlib.crc32(payload, kind) != crc:
                break
            yield kind, payload
            at = start + length
        self._end, self._allocated = at, end
        if at < end and data.count(0, at) != end - at:
            logger.warning("FIX store: a torn last record cut off (a crash while writing)",
                           extra={"fields": {"path": str(self.path), "bytes": end - at}})
            os.ftruncate(self._fd, at)
            self._allocated = at


def _allocate(fd: int, offset: int, length: int) -> None:
    os.posix_fallocate(fd, offset, length)  # Linux and most Unixes; not macOS


def _frame(kind: int, payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload, kind), kind) + payload


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["HEADER", "Journal", "Record"]
