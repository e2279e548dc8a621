"""The FIX session store: sequence numbers and sent messages survive restarts and crashes."""

from __future__ import annotations

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
    assert (tmp_path / "nested" / "dir" / "session.fixlog").exists()


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
    (tmp_path / "session.fixlog").write_bytes(b"this is not a journal at all" * 100)
    with pytest.raises(DataError, match=r"session.fixlog: not a session journal"):
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


def test_a_torn_last_record_is_cut_off_and_the_rest_kept(tmp_path):
    """A crash in the middle of a write leaves part of a record: it is dropped on open."""
    with open_store(tmp_path) as store:
        store.record_sent(1, "D", b"order-1", 10, keep=True)
        store.record_sent(2, "D", b"order-2", 20, keep=True)
    path = tmp_path / "session.fixlog"
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])  # the last record torn
    with open_store(tmp_path) as store:
        assert store.next_sender_seq == 2
        assert [m.raw for m in store.sent_messages(1)] == [b"order-1"]
        store.record_sent(2, "D", b"order-2b", 30, keep=True)  # appends after the cut
    with open_store(tmp_path) as store:
        assert [m.raw for m in store.sent_messages(1)] == [b"order-1", b"order-2b"]


def test_a_damaged_record_ends_the_journal_there(tmp_path):
    with open_store(tmp_path) as store:
        for seq in (1, 2, 3):
            store.record_sent(seq, "D", b"order-%d" % seq, seq, keep=True)
    path = tmp_path / "session.fixlog"
    data = bytearray(path.read_bytes())
    data[data.index(b"order-3")] ^= 0xFF  # the crc no longer matches
    path.write_bytes(bytes(data))
    with open_store(tmp_path) as store:
        assert store.next_sender_seq == 3


def test_prune_and_reset_shrink_the_file_and_keep_the_state(tmp_path):
    store = open_store(tmp_path)
    for seq in range(1, 201):
        store.record_sent(seq, "D", b"x" * 200, seq, keep=True)
    store.set_next_target_seq(9)
    path = tmp_path / "session.fixlog"
    before = path.stat().st_size
    assert store.prune_sent(151) == 150
    assert path.stat().st_size < before / 3
    store.close()
    with open_store(tmp_path) as again:
        assert (again.next_sender_seq, again.next_target_seq) == (201, 9)
        assert [m.seq for m in again.sent_messages(1)] == list(range(151, 201))
        again.reset()
        assert path.stat().st_size < 200
    with open_store(tmp_path) as again:
        assert (again.next_sender_seq, again.next_target_seq) == (1, 1)
        assert again.sent_messages(1) == []


def test_an_in_order_step_of_the_incoming_seq_is_kept_across_reopen(tmp_path):
    store = open_store(tmp_path)
    store.set_next_target_seq(2)  # a message handled in order: not waiting for the disk
    store.set_next_target_seq(3)
    store.close()  # puts it on disk
    again = open_store(tmp_path)
    assert again.next_target_seq == 3
    again.close()
