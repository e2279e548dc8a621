"""Acceptance test of issue 3: bad files give one clear line, and the store is left untouched."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.core.errors import DataError, UserError
from tradeloop.data import bundled_path, load_bars
from tradeloop.data.store import DataStore
from tradeloop.data.ticks import load_ticks
from tradeloop.model.data import QuoteSeries


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    """A store that already holds bars (GOOG, EURUSD) and quotes."""
    store = DataStore(tmp_path / "store")
    store.import_file(bundled_path("goog"))
    store.import_file(bundled_path("eurusd"), symbol="EURUSD")
    ts = np.array([1_704_103_200_000_000_000, 1_704_103_200_000_000_000], dtype=np.int64)
    store.write_ticks(QuoteSeries("EURUSD", ts, np.array([1.1, 1.1]), np.array([1.2, 1.2]),
                                  np.ones(2), np.ones(2)))
    return store


def text_file(name: str, text: str) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        path.write_text(text)
        return path
    return make


def truncated_parquet(name: str, frame: pd.DataFrame) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        frame.to_parquet(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        return path
    return make


BARS = "Date,Open,High,Low,Close,Volume\n"
BAR_FRAME = pd.DataFrame({
    "Date": pd.date_range("2024-01-01", periods=500, freq="h", tz="UTC"),
    "Open": 1.0, "High": 2.0, "Low": 0.5, "Close": 1.5, "Volume": 10.0,
})
TICK_FRAME = pd.DataFrame({
    "time": pd.date_range("2024-01-01", periods=500, freq="s", tz="UTC"),
    "bid": 1.0, "ask": 1.1,
})

CASES = {
    "unknown columns": (
        text_file("prices.csv", "when,value,amount\n2024-01-01,1.0,2\n"),
        ["unknown columns when, value, amount", "expected open, high, low and close (bars)"],
    ),
    "bars missing close": (
        text_file("partial.csv", "Date,Open,High,Low\n2024-01-01,1,2,0.5\n"),
        ["no close column (accepted: close, c, adj_close)", "columns found: Date, Open, High, Low"],
    ),
    "mixed UTC offsets": (
        text_file("offsets.csv", BARS
                  + "2024-01-02 00:00:00+00:00,1,2,0.5,1.5,10\n"
                  + "2024-01-03 00:00:00+00:00,1,2,0.5,1.5,10\n"
                  + "2024-01-04 00:00:00+02:00,1,2,0.5,1.5,10\n"),
        ["row 4", "'2024-01-04 00:00:00+02:00'", "UTC offset +02:00",
         "a file must use one timezone"],
    ),
    "naive and aware timestamps": (
        text_file("naive.csv", BARS
                  + "2024-01-02T00:00:00Z,1,2,0.5,1.5,10\n"
                  + "2024-01-03T00:00:00,1,2,0.5,1.5,10\n"),
        ["row 3", "'2024-01-03T00:00:00' has no UTC offset",
         "must not mix local times with UTC offsets"],
    ),
    "mixed offsets in ticks": (
        text_file("ticks.csv", "time,bid,ask\n2024-01-02 10:00:00+01:00,1,1.1\n"
                  "2024-01-02 10:00:01+05:30,1,1.1\n"),
        ["row 3", "UTC offset +05:30", "a file must use one timezone"],
    ),
    "unparseable timestamp in bars": (
        text_file("dates.csv", BARS
                  + "2024-01-02,1,2,0.5,1.5,10\n"
                  + "2024-01-03,1,2,0.5,1.5,10\n"
                  + "2024-13-45,1,2,0.5,1.5,10\n"),
        ["row 4", "timestamp '2024-13-45' is not a recognised date/time"],
    ),
    "unparseable timestamp in trades": (
        text_file("trades.csv", "time,price,size\n2024-01-02 10:00:00,1,1\nlater,1,1\n"),
        ["row 3", "timestamp 'later' is not a recognised date/time"],
    ),
    "truncated bar parquet": (
        truncated_parquet("bars.parquet", BAR_FRAME),
        ["cannot read as Parquet", "truncated or is not a Parquet file"],
    ),
    "truncated tick parquet": (
        truncated_parquet("quotes.parquet", TICK_FRAME),
        ["cannot read as Parquet", "truncated or is not a Parquet file"],
    ),
    "empty parquet file": (
        text_file("empty.parquet", ""),
        ["cannot read as Parquet (the file is empty)"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_one_line_and_leaves_the_store_unchanged(
    tmp_path: Path, store: DataStore, case: str
) -> None:
    make, expected = CASES[case]
    path = make(tmp_path)
    before = snapshot(store.root)
    assert before  # the store really holds data
    with pytest.raises(DataError) as info:
        store.import_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message
    assert isinstance(info.value, UserError)  # shown as one line, no traceback
    assert snapshot(store.root) == before


@pytest.mark.parametrize("case", ["truncated bar parquet", "unparseable timestamp in bars"])
def test_load_bars_reports_the_same_one_line_error(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    path = make(tmp_path)
    with pytest.raises(DataError) as info:
        load_bars(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert expected[-1] in str(info.value)


def test_load_ticks_reports_a_truncated_parquet_file(tmp_path: Path) -> None:
    path = truncated_parquet("q.parquet", TICK_FRAME)(tmp_path)
    with pytest.raises(DataError, match=r"q\.parquet: cannot read as Parquet \(no Parquet footer"):
        load_ticks(path)


def test_parquet_cut_inside_its_data_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    BAR_FRAME.to_parquet(path, compression="snappy")
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4 : len(data) - footer - 8] = b"\x00" * (len(data) - footer - 12)  # wipe the pages
    path.write_bytes(bytes(data))
    store = DataStore(tmp_path / "store")
    with pytest.raises(DataError) as info:
        store.import_file(path)
    assert str(info.value).startswith(f"{path}: cannot read as Parquet (")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "store" / "bars").exists()


def test_repair_does_not_paper_over_mixed_timezones(tmp_path: Path, store: DataStore) -> None:
    make, _ = CASES["mixed UTC offsets"]
    before = snapshot(store.root)
    with pytest.raises(DataError, match="a file must use one timezone"):
        store.import_file(make(tmp_path), repair=True)
    assert snapshot(store.root) == before


def test_repair_imports_a_file_with_bad_rows(tmp_path: Path, store: DataStore) -> None:
    make, _ = CASES["unparseable timestamp in bars"]
    result = store.import_file(make(tmp_path), repair=True, symbol="DATES")
    assert result.written.rows_added == 2
    assert result.report.dropped == {"unparseable_timestamp": 1}
