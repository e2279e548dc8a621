"""The session store: sequence numbers and sent application messages, persisted across restarts.

One SQLite file per session (``<store_dir>/<session>.sqlite``), in WAL mode with
``synchronous=FULL`` by default: every change is on disk when its method returns (``NORMAL``
on request: it is then with the operating system, safe from a crash of the process).
The session calls
:meth:`FixSessionStore.record_sent` *before* it writes a message to the socket, so a crash can
lose a message that was never sent (the counterparty then asks for it and gets it resent, or a
gap fill) but never reuse a sequence number that already went out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tradeloop.core.errors import DataError

logger = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS session ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " session_id TEXT NOT NULL,"
    " next_sender_seq INTEGER NOT NULL,"
    " next_target_seq INTEGER NOT NULL,"
    " created_ns INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sent ("
    " seq INTEGER PRIMARY KEY,"
    " msg_type TEXT NOT NULL,"
    " sent_ns INTEGER NOT NULL,"
    " raw BLOB NOT NULL)",
    # storing a message moves the next sequence number in the same statement (one commit)
    "CREATE TRIGGER IF NOT EXISTS sent_moves_sender_seq AFTER INSERT ON sent BEGIN"
    " UPDATE session SET next_sender_seq = NEW.seq + 1 WHERE id = 1; END",
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """An application message as it was first sent.

    Attributes
    ----------
    seq : int
        Its MsgSeqNum (34).
    msg_type : str
        Its MsgType (35).
    sent_ns : int
        Its SendingTime (52) in UTC nanoseconds: the OrigSendingTime (122) of a resend.
    raw : bytes
        The whole message as written to the socket.
    """

    seq: int
    msg_type: str
    sent_ns: int
    raw: bytes


class FixSessionStore:
    """Sequence numbers and sent application messages of one FIX session.

    Parameters
    ----------
    path : Path
        The SQLite file (created with its directory when missing).
    session_id : str
        Recorded in a new file; a file made for another session is refused.
    now_ns : callable, optional
        The clock of the creation time; ``time.time_ns`` by default.

    Raises
    ------
    DataError
        The file is not a session store, belongs to another session, or cannot be opened.
    """

    def __init__(self, path: Path, session_id: str, *,
                 now_ns: Callable[[], int] = time.time_ns, sync: str = "full") -> None:
        self.path = Path(path)
        self.session_id = session_id
        self._now_ns = now_ns
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DataError(f"FIX session store {self.path}: cannot open: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute("PRAGMA synchronous=NORMAL" if sync == "normal"
                             else "PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            row = self._load()
        except sqlite3.Error as exc:
            self._db.close()
            raise DataError(f"FIX session store {self.path}: not a session store ({exc})"
                            ) from None
        if row[0] != session_id:
            self._db.close()
            raise DataError(f"FIX session store {self.path} belongs to session {row[0]!r}, "
                            f"not {session_id!r}")
        self._next_sender, self._next_target, self._created_ns = row[1], row[2], row[3]
        self._lazy = sqlite3.connect(self.path, isolation_level=None)
        self._lazy.execute("PRAGMA synchronous=NORMAL")
        self._lazy.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = WalCheckpointer(self.path)

    @classmethod
    def open(cls, store_dir: Path, name: str, session_id: str, *,
             now_ns: Callable[[], int] = time.time_ns, sync: str = "full") -> FixSessionStore:
        """The store ``<store_dir>/<name>.sqlite`` of session ``session_id`` (``sync``:
        ``"full"`` or ``"normal"``, see the module notes)."""
        return cls(Path(store_dir) / f"{name}.sqlite", session_id, now_ns=now_ns, sync=sync)

    def _load(self) -> tuple[str, int, int, int]:
        row = self._db.execute("SELECT session_id, next_sender_seq, next_target_seq, created_ns"
                               " FROM session WHERE id = 1").fetchone()
        if row is None:
            row = (self.session_id, 1, 1, self._now_ns())
            self._db.execute("INSERT INTO session VALUES (1, ?, ?, ?, ?)", row)
        return str(row[0]), int(row[1]), int(row[2]), int(row[3])

    # -- reading ----------------------------------------------------------------------------

    @property
    def next_sender_seq(self) -> int:
        """The MsgSeqNum of the next message we send."""
        return self._next_sender

    @property
    def next_target_seq(self) -> int:
        """The MsgSeqNum we expect on the next message from the counterparty."""
        return self._next_target

    @property
    def created_ns(self) -> int:
        """When the sequence numbers last started from 1 (UTC nanoseconds)."""
        return self._created_ns

    def sent_messages(self, begin: int, end: int | None = None) -> list[SentMessage]:
        """The stored application messages with ``begin <= seq <= end``, in seq order.

        Parameters
        ----------
        begin : int
        end : int or None
            Inclusive; None for no upper bound.
        """
        last = end if end is not None else 2**62
        rows = self._db.execute("SELECT seq, msg_type, sent_ns, raw FROM sent WHERE seq >= ? "
                                "AND seq <= ? ORDER BY seq", (begin, last)).fetchall()
        return [SentMessage(int(r[0]), str(r[1]), int(r[2]), bytes(r[3])) for r in rows]

    # -- writing ----------------------------------------------------------------------------

    def record_sent(self, seq: int, msg_type: str, raw: bytes, sent_ns: int, *,
                    keep: bool) -> None:
        """Make ``seq`` used, durably, before its message goes to the socket.

        Parameters
        ----------
        seq : int
            Must be :attr:`next_sender_seq`; the next one becomes ``seq + 1``.
        msg_type, raw, sent_ns
            The message (see :class:`SentMessage`).
        keep : bool
            Store the message for resending (application messages); admin messages are
            gap-filled instead and only move the sequence number.

        Raises
        ------
        ValueError
            ``seq`` is not the next sequence number.
        """
        if seq != self._next_sender:
            raise ValueError(f"seq {seq} is not the next sender seq {self._next_sender}")
        if keep:  # one statement, one commit: the trigger moves next_sender_seq
            self._db.execute("INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?)",
                             (seq, msg_type, sent_ns, raw))
        else:
            self._db.execute("UPDATE session SET next_sender_seq = ? WHERE id = 1", (seq + 1,))
        self._next_sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        """Set the next outgoing MsgSeqNum (a manual fix, or a counterparty's instruction)."""
        self._set("next_sender_seq", seq)
        self._next_sender = seq

    def set_next_target_seq(self, seq: int) -> None:
        """Set the MsgSeqNum expected next from the counterparty.

        A plain step to the next number (a message handled in order) does not wait for the
        disk: it gets there with the next message we send. After a power cut the counterparty
        then resends what followed, and the application drops what it already had (by
        ExecID); any other change is on disk when this returns.
        """
        if seq == self._next_target + 1:
            self._lazy.execute("UPDATE session SET next_target_seq = ? WHERE id = 1", (seq,))
        else:
            self._set("next_target_seq", seq)
        self._next_target = seq

    def reset(self) -> None:
        """Start over: both sequence numbers back to 1 and the sent messages forgotten."""
        created = self._now_ns()
        with self._transaction():
            self._db.execute("DELETE FROM sent")
            self._db.execute("UPDATE session SET next_sender_seq = 1, next_target_seq = 1, "
                             "created_ns = ? WHERE id = 1", (created,))
        self._next_sender, self._next_target, self._created_ns = 1, 1, created
        logger.info("FIX session store reset", extra={"fields": {"session": self.session_id}})

    def prune_sent(self, before_ns: int) -> int:
        """Forget application messages first sent before ``before_ns``; returns how many."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM sent WHERE sent_ns < ?", (before_ns,))
        return int(cursor.rowcount)

    def close(self) -> None:
        """Put the last changes on disk and close the file."""
        self._set("next_target_seq", self._next_target)  # a synced commit flushes the log
        self._checkpointer.stop()
        self._lazy.close()
        self._db.close()

    def __enter__(self) -> FixSessionStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _set(self, column: str, seq: int) -> None:
        if seq < 1:
            raise ValueError(f"a sequence number starts at 1, got {seq}")
        with self._transaction():
            self._db.execute(f"UPDATE session SET {column} = ? WHERE id = 1", (seq,))

    def _transaction(self) -> Transaction:
        return Transaction(self._db)


class WalCheckpointer:
    """Moves a WAL file's pages into its database from a thread of its own, every
    ``interval_s``, so that no commit on the order path ever pays for a checkpoint (the
    connections that write turn SQLite's automatic checkpoints off).

    Parameters
    ----------
    path : Path
        The database file.
    interval_s : float
    """

    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint-{path.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish with a last checkpoint."""
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(self._interval_s):
                self._checkpoint(db)
            self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # busy or closing: the next round catches up
            logger.debug("WAL checkpoint skipped", extra={"fields": {
                "path": str(self._path), "error": str(exc)}})


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception) on a connection in
    autocommit mode."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


__all__ = ["FixSessionStore", "SentMessage", "Transaction", "WalCheckpointer"]
