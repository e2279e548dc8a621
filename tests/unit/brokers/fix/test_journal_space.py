"""The FIX journal allocates its file ahead of the records: the zeros past the last record are
never taken for records, nor for a torn one, and closing the journal cuts them off."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from tradeloop.brokers.fix.journal import ALLOCATE_BYTES, Journal


def _records(path: Path) -> list[tuple[int, bytes]]:
    journal = Journal.open(path, sync=False)
    try:
        return journal.records()
    finally:
        journal.close()


def test_the_file_is_allocated_ahead_while_open_and_cut_to_the_records_on_close(tmp_path):
    path = tmp_path / "s.fixlog"
    journal = Journal.open(path, sync=True)
    journal.append(1, b"first", durable=True)
    journal.append(2, b"second")
    assert path.stat().st_size >= ALLOCATE_BYTES
    assert journal.records() == [(1, b"first"), (2, b"second")]
    written = journal.size()
    journal.close()
    assert path.stat().st_size == written < 100
    assert _records(path) == [(1, b"first"), (2, b"second")]


def test_a_file_left_by_a_crash_reads_up_to_its_last_record_without_a_warning(tmp_path, caplog):
    path = tmp_path / "s.fixlog"
    journal = Journal.open(path, sync=False)
    journal.append(1, b"kept")
    crashed = tmp_path / "crashed.fixlog"
    shutil.copyfile(path, crashed)  # the file as a crash leaves it: zeros after the record
    journal.close()
    assert crashed.stat().st_size >= ALLOCATE_BYTES
    with caplog.at_level(logging.WARNING):
        again = Journal.open(crashed, sync=False)
    try:
        assert again.records() == [(1, b"kept")]
        again.append(2, b"after")  # goes right after the last record, not after the zeros
        assert again.records() == [(1, b"kept"), (2, b"after")]
    finally:
        again.close()
    assert "torn" not in caplog.text
    assert _records(crashed) == [(1, b"kept"), (2, b"after")]


def test_a_torn_record_in_the_allocated_space_is_cut_off_with_a_warning(tmp_path, caplog):
    path = tmp_path / "s.fixlog"
    journal = Journal.open(path, sync=False)
    journal.append(1, b"whole")
    journal.append(2, b"torn record")
    crashed = tmp_path / "crashed.fixlog"
    data = bytearray(path.read_bytes())
    journal.close()
    end = data.index(b"torn record")
    data[end + 4:end + len(b"torn record")] = bytes(len(b"torn record") - 4)  # half written
    crashed.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert _records(crashed) == [(1, b"whole")]
    assert "torn last record cut off" in caplog.text
    assert crashed.stat().st_size < 100
