"""The session store: sequence numbers and sent application messages, persisted across restarts.

The store writes its changes as records to the session's journal (:mod:`.journal`,
``<store_dir>/<session>.fixlog``, shared with the order book) and reads them back on open. With
``sync="full"`` (the default) a change is on disk when its method returns (``"normal"`` leaves
it with the operating system: safe from a crash of the process, not of the machine). The session
calls :meth:`FixSessionStore.record_sent` *before* it writes a message to the socket, so a crash
can lose a message that was never sent (the counterparty then asks for it and gets it resent, or
a gap fill) but never reuse a sequence number that already went out. Sent application messages
are also kept in memory for resends, until the next sequence reset.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

import msgspec

from tradeloop.brokers.fix.journal import Journal, Record
from tradeloop.core.errors import DataError

logger = logging.getLogger(__name__)

#: The store's record kinds in the journal.
SESSION, SENT, SENDER, TARGET = 1, 2, 3, 4
KINDS = (SESSION, SENT, SENDER, TARGET)
_SEQ = struct.Struct("<q")
_SENT = struct.Struct("<qqB")
#: A journal larger than this is compacted when the store opens.
COMPACT_BYTES = 32 * 2**20


class SentMessage(msgspec.Struct, frozen=True, gc=False):
    """An application message as it was first sent (kept until the next sequence reset; values
    only, so the cycle collector does not track it).

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
        The journal file (created with its directory when missing).
    session_id : str
        Recorded in a new file; a file made for another session is refused.
    now_ns : callable, optional
        The clock of the creation time; ``time.time_ns`` by default.
    sync : {"full", "normal"}
        Whether changes wait for the disk.

    Raises
    ------
    DataError
        The file is not a session journal, belongs to another session, or cannot be opened.
    """

    def __init__(self, path: Path, session_id: str, *,
                 now_ns: Callable[[], int] = time.time_ns, sync: str = "full") -> None:
        self.path = Path(path)
        self.session_id = session_id
        self._now_ns = now_ns
        self._journal = Journal.open(self.path, sync=sync == "full")
        self._sent: dict[int, SentMessage] = {}
        owner, self._next_sender, self._next_target, self._created_ns = self._load()
        if owner is None:
            self._created_ns = now_ns()
            self._journal.append(SESSION, self._session_record(), durable=True)
        elif owner != session_id:
            self._journal.close()
            raise DataError(f"FIX session store {self.path} belongs to session {owner!r}, "
                            f"not {session_id!r}")
        self._journal.own(KINDS, self._snapshot)
        if self._journal.size() > COMPACT_BYTES:
            self._journal.compact()

    @classmethod
    def open(cls, store_dir: Path, name: str, session_id: str, *,
             now_ns: Callable[[], int] = time.time_ns, sync: str = "full") -> FixSessionStore:
        """The store ``<store_dir>/<name>.fixlog`` of session ``session_id`` (``sync``:
        ``"full"`` or ``"normal"``, see the module notes)."""
        return cls(store_path(store_dir, name), session_id, now_ns=now_ns, sync=sync)

    def _load(self) -> tuple[str | None, int, int, int]:
        owner: str | None = None
        sender = target = 1
        created = 0
        for kind, payload in self._journal.records():
            if kind == SENT:
                seq, sent_ns, type_len = _SENT.unpack_from(payload)
                msg_type = payload[_SENT.size:_SENT.size + type_len].decode()
                raw = payload[_SENT.size + type_len:]
                self._sent[seq] = SentMessage(seq, msg_type, sent_ns, raw)
                sender = seq + 1
            elif kind == SENDER:
                sender = _SEQ.unpack(payload)[0]
            elif kind == TARGET:
                target = _SEQ.unpack(payload)[0]
            elif kind == SESSION:  # the first record, and each reset's
                created = _SEQ.unpack_from(payload)[0]
                owner = payload[_SEQ.size:].decode()
                sender = target = 1
                self._sent.clear()
        return owner, sender, target, created

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
        return [m for seq, m in sorted(self._sent.items()) if begin <= seq <= last]

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
        if keep:  # one record: the message moves next_sender_seq
            message = SentMessage(seq, msg_type, sent_ns, raw)
            self._journal.append(SENT, _sent_record(message), durable=True)
            self._sent[seq] = message
        else:
            self._journal.append(SENDER, _SEQ.pack(seq + 1), durable=True)
        self._next_sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        """Set the next outgoing MsgSeqNum (a manual fix, or a counterparty's instruction)."""
        _check(seq)
        self._journal.append(SENDER, _SEQ.pack(seq), durable=True)
        self._next_sender = seq

    def set_next_target_seq(self, seq: int) -> None:
        """Set the MsgSeqNum expected next from the counterparty.

        A plain step to the next number (a message handled in order) does not wait for the
        disk: it gets there with the next message we send. After a power cut the counterparty
        then resends what followed, and the application drops what it already had (by
        ExecID); any other change is on disk when this returns.
        """
        _check(seq)
        self._journal.append(TARGET, _SEQ.pack(seq), durable=seq != self._next_target + 1)
        self._next_target = seq

    def reset(self) -> None:
        """Start over: both sequence numbers back to 1 and the sent messages forgotten."""
        self._created_ns = self._now_ns()
        self._next_sender = self._next_target = 1
        self._sent.clear()
        self._journal.append(SESSION, self._session_record(), durable=True)
        self._journal.compact()
        logger.info("FIX session store reset", extra={"fields": {"session": self.session_id}})

    def prune_sent(self, before_ns: int) -> int:
        """Forget application messages first sent before ``before_ns`` (a resend of them
        becomes a gap fill); returns how many. The file shrinks at the next compaction."""
        old = [seq for seq, m in self._sent.items() if m.sent_ns < before_ns]
        for seq in old:
            del self._sent[seq]
        if old:
            self._journal.compact()
        return len(old)

    def close(self) -> None:
        """Put the last changes on disk and close the file."""
        self._journal.flush()
        self._journal.disown(KINDS)
        self._journal.close()

    def __enter__(self) -> FixSessionStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _session_record(self) -> bytes:
        return _SEQ.pack(self._created_ns) + self.session_id.encode()

    def _snapshot(self) -> Iterable[Record]:
        yield SESSION, self._session_record()
        for message in sorted(self._sent.values(), key=lambda m: m.seq):
            yield SENT, _sent_record(message)
        yield SENDER, _SEQ.pack(self._next_sender)
        yield TARGET, _SEQ.pack(self._next_target)


def store_path(store_dir: Path, name: str) -> Path:
    """The journal file of the session store ``name`` in ``store_dir``."""
    return Path(store_dir) / f"{name}.fixlog"


def _sent_record(message: SentMessage) -> bytes:
    msg_type = message.msg_type.encode()
    return _SENT.pack(message.seq, message.sent_ns, len(msg_type)) + msg_type + message.raw


def _check(seq: int) -> None:
    if seq < 1:
        raise ValueError(f"a sequence number starts at 1, got {seq}")


__all__ = ["FixSessionStore", "SentMessage", "store_path"]
