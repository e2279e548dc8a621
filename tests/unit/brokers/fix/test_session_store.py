"""The FIX session store: sequence numbers and sent messages survive restarts and crashes."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import simplefix

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig
from tradeloop.brokers.fix.protocol import SessionCounters, SessionProtocol
from tradeloop.brokers.fix.store import FixSessionStore, SentMessage
from tradeloop.core.errors import DataError

SESSION = "FIX.4.4:CLIENT->BROKER"


def open_store(folder: Path, session: str = SESSION) -> FixSessionStore:
    return FixSessionStore.open(folder, "session", session, now_ns=lambda: 1_000)


def test_a_new_store_starts_at_one(tmp_path):
    with open_store(tmp_path / "nested" / "dir") as store:
        assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
        assert store.created_ns == 1_000
        assert store.sent_messages(1) == []
    assert (tmp_path / "nested" / "dir" / "session.sqlite").exists()


def test_sequence_numbers_and_messages_persist_across_reopen(tmp_path):
    with open_store(tmp_path) as store:
        store.record_sent(1, "A", b"logon", 10, keep=False)
        store.record_sent(2, "D", b"order-2", 20, keep=True)
        store.record_sent(3, "0", b"heartbeat", 30, keep=False)
        store.record_sent(4, "F", b"cancel-4", 40, keep=True)
        store.set_next_target_seq(7)
    with open_store(tmp_path) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (5, 7)
        assert store.sent_messages(1) == [SentMessage(2, "D", 20, b"order-2"),
                                          SentMessage(4, "F", 40, b"cancel-4")]
        assert [m.seq for m in store.sent_messages(3, 3)] == []
        assert [m.seq for m in store.sent_messages(3, 4)] == [4]


def test_record_sent_insists_on_the_next_number(tmp_path):
    with open_store(tmp_path) as store:
        store.record_sent(1, "D", b"x", 1, keep=True)
        with pytest.raises(ValueError, match="seq 3 is not the next sender seq 2"):
            store.record_sent(3, "D", b"y", 2, keep=True)
        assert store.next_sender_seq == 2
        assert [m.seq for m in store.sent_messages(1)] == [1]


def test_reset_starts_over_and_forgets_sent_messages(tmp_path):
    clock = iter([1_000, 2_000])
    with FixSessionStore.open(tmp_path, "session", SESSION, now_ns=lambda: next(clock)) as store:
        store.record_sent(1, "D", b"x", 1, keep=True)
        store.set_next_target_seq(9)
        store.reset()
        assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
        assert store.created_ns == 2_000
    with open_store(tmp_path) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
        assert store.sent_messages(1) == []
        assert store.created_ns == 2_000


def test_manual_sequence_fixes_persist_and_are_checked(tmp_path):
    with open_store(tmp_path) as store:
        store.set_next_sender_seq(42)
        store.set_next_target_seq(17)
        with pytest.raises(ValueError, match="starts at 1"):
            store.set_next_target_seq(0)
    with open_store(tmp_path) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (42, 17)


def test_prune_forgets_old_messages_only(tmp_path):
    with open_store(tmp_path) as store:
        for seq, sent in ((1, 10), (2, 20), (3, 30)):
            store.record_sent(seq, "D", b"m", sent, keep=True)
        assert store.prune_sent(before_ns=25) == 2
        assert [m.seq for m in store.sent_messages(1)] == [3]
        assert store.next_sender_seq == 4


def test_a_store_of_another_session_is_refused(tmp_path):
    open_store(tmp_path).close()
    with pytest.raises(DataError, match=r"belongs to session 'FIX.4.4:CLIENT->BROKER'"):
        open_store(tmp_path, "FIX.4.4:OTHER->BROKER")


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path):
    (tmp_path / "session.sqlite").write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(DataError, match=r"session.sqlite: not a session store"):
        open_store(tmp_path)


def test_a_recorded_message_survives_a_crash_right_after(tmp_path):
    """The process dies (no close, no cleanup) right after record_sent returns."""
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from tradeloop.brokers.fix.store import FixSessionStore
        store = FixSessionStore.open(Path({str(tmp_path)!r}), "session", {SESSION!r})
        store.record_sent(1, "A", b"logon", 1, keep=False)
        store.record_sent(2, "D", b"order", 2, keep=True)
        store.set_next_target_seq(5)
        os._exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 3, done.stderr.decode()
    with open_store(tmp_path) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (3, 5)
        assert store.sent_messages(1) == [SentMessage(2, "D", 2, b"order")]


def test_a_sequence_number_is_on_disk_before_its_bytes_are_written(tmp_path):
    """The session's write path: every write finds its number (and an application
    message's body) already committed, as seen by a second connection to the file."""
    config = FixSessionConfig(port=9876, sender_comp_id="CLIENT", target_comp_id="BROKER",
                              store_dir=tmp_path)
    store = FixSessionStore.open(tmp_path, config.store_name, config.session_id)
    seen: list[tuple[int, int, list[int]]] = []

    def write(raw: bytes) -> None:
        seq = wire.int_field(wire.parse_one(raw), 34)
        assert seq is not None
        with FixSessionStore.open(tmp_path, config.store_name, config.session_id) as other:
            seen.append((seq, other.next_sender_seq, [m.seq for m in other.sent_messages(1)]))

    async def deliver(message: simplefix.FixMessage) -> None:
        return None

    protocol = SessionProtocol(config, store, SessionCounters(), write=write, deliver=deliver,
                               now_ns=lambda: 5_000_000_000, on_logon=lambda: None,
                               on_close=lambda reason, error: None)
    protocol.send_logon(None)
    order = simplefix.FixMessage()
    order.append_pair(35, "D")
    order.append_pair(11, "ORD-1")
    protocol.send("D", wire.body_pairs(order), keep=True)
    protocol.send_heartbeat()
    store.close()
    assert seen == [(1, 2, []), (2, 3, [2]), (3, 4, [2])]


def _database_alone(path: Path, copy: Path) -> sqlite3.Connection:
    """The database file without its WAL: what a checkpoint has moved into it."""
    shutil.copyfile(path, copy)
    return sqlite3.connect(copy)


def test_the_log_is_moved_into_the_database_off_the_order_path(tmp_path):
    store = open_store(tmp_path)
    for seq in range(1, 51):
        store.record_sent(seq, "D", b"8=FIX.4.4|35=D|", seq, keep=True)
    path = tmp_path / "session.sqlite"
    # the writers never checkpoint: the messages are only in the WAL so far (or already
    # moved by the background thread); after stop() every one is in the database itself
    store._checkpointer.stop()
    alone = _database_alone(path, tmp_path / "alone.sqlite")
    try:
        assert alone.execute("SELECT COUNT(*) FROM sent").fetchone()[0] == 50
        assert alone.execute("SELECT next_sender_seq FROM session").fetchone()[0] == 51
    finally:
        alone.close()
        store.close()


def test_an_in_order_step_of_the_incoming_seq_is_kept_across_reopen(tmp_path):
    store = open_store(tmp_path)
    store.set_next_target_seq(2)  # a message handled in order: not waiting for the disk
    store.set_next_target_seq(3)
    store.close()  # puts it on disk
    again = open_store(tmp_path)
    assert again.next_target_seq == 3
    again.close()
