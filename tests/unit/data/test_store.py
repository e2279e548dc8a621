import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import tradeloop.data.catalog as catalog_module
import tradeloop.data.store as store_module
import tradeloop.data.store_writes as writes_module
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE, dt_to_ns
from tradeloop.data import bundled_path, find_gaps, load_bars
from tradeloop.data.catalog import decode_name, encode_name
from tradeloop.data.store import DataStore
from tradeloop.model.data import BarSeries, QuoteSeries, TradeSeries


def ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=UTC))


def bars(symbol: str, ts: list[int] | np.ndarray, base: float = 100.0,
         timeframe: int = NANOS_PER_HOUR) -> BarSeries:
    ts = np.asarray(ts, dtype=np.int64)
    close = base + np.arange(ts.shape[0], dtype=np.float64)
    return BarSeries(symbol, ts, close - 0.5, close + 1.0, close - 1.0, close,
                     np.full(ts.shape[0], 10.0), timeframe, "test")


def hours(start: int, count: int) -> np.ndarray:
    return start + np.arange(count, dtype=np.int64) * NANOS_PER_HOUR


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def quotes(symbol: str, ts: list[int], bid: list[float]) -> QuoteSeries:
    b = np.asarray(bid, dtype=np.float64)
    return QuoteSeries(symbol, np.asarray(ts, dtype=np.int64), b, b + 0.5,
                       np.ones(len(ts)), np.full(len(ts), 2.0))


# -- append and de-duplication -------------------------------------------------------------

def test_overlapping_append_replaces_stored_bars(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    first = store.write_bars(bars("X", hours(ns(2024, 3, 1), 10), base=100.0))
    assert (first.rows_added, first.rows_replaced, first.rows_unchanged) == (10, 0, 0)
    second = store.write_bars(bars("X", hours(ns(2024, 3, 1, 5), 10), base=500.0))
    assert (second.rows_added, second.rows_replaced, second.rows_unchanged) == (5, 5, 0)

    got = store.read_bars("X", "1h")
    assert len(got) == 15
    assert np.all(np.diff(got.ts) > 0)
    assert got.close[:5].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert got.close[5:].tolist() == [500.0 + i for i in range(10)]  # the incoming rows win
    assert got.timeframe_ns == NANOS_PER_HOUR
    assert got.source == "store:SIM/X/1h"


def test_interleaved_append_stays_strictly_increasing(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    even = ns(2024, 3, 1) + np.arange(0, 20, 2, dtype=np.int64) * NANOS_PER_HOUR
    odd = ns(2024, 3, 1) + np.arange(1, 21, 2, dtype=np.int64) * NANOS_PER_HOUR
    store.write_bars(bars("X", even), timeframe="1h")
    result = store.write_bars(bars("X", odd), timeframe="1h")
    assert result.rows_added == 10
    got = store.read_bars("X", "1h")
    assert got.ts.tolist() == sorted(even.tolist() + odd.tolist())


def test_identical_rewrite_changes_nothing(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    series = bars("X", hours(ns(2023, 12, 31, 20), 10))
    store.write_bars(series)
    before = snapshot(tmp_path)
    again = store.write_bars(series)
    assert (again.rows_added, again.rows_replaced, again.rows_unchanged) == (0, 0, 10)
    assert again.partitions_written == ()
    assert snapshot(tmp_path) == before


def test_only_changed_bars_count_as_replaced(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    series = bars("X", hours(ns(2024, 3, 1), 4))
    store.write_bars(series)
    close = series.close.copy()
    close[2] = close[2] + 0.25
    corrected = BarSeries("X", series.ts, series.open, series.high, series.low, close,
                          series.volume, NANOS_PER_HOUR)
    result = store.write_bars(corrected)
    assert (result.rows_added, result.rows_replaced, result.rows_unchanged) == (0, 1, 3)
    assert store.read_bars("X", "1h").close[2] == close[2]


def test_append_rewrites_only_touched_partitions(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", [ns(2022, 6, 1), ns(2023, 6, 1), ns(2024, 6, 1)]), timeframe="1h")
    directory = tmp_path / "bars" / "SIM" / "X" / "1h"
    old_2022 = (directory / "2022.parquet").read_bytes()
    result = store.write_bars(bars("X", [ns(2024, 6, 2)]), timeframe="1h")
    assert [p.name for p in result.partitions_written] == ["2024.parquet"]
    assert (directory / "2022.parquet").read_bytes() == old_2022


def test_timeframe_defaults_to_the_series_and_is_required(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", hours(ns(2024, 1, 2), 3)))
    assert store.read_bars("X", "H1").timeframe_ns == NANOS_PER_HOUR
    unknown = bars("Y", [ns(2024, 1, 2)], timeframe=0)
    with pytest.raises(ConfigError, match="timeframe="):
        store.write_bars(unknown)
    store.write_bars(unknown, timeframe="1d")
    assert len(store.read_bars("Y", "1d")) == 1


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        ([ns(2024, 1, 2, 1), ns(2024, 1, 2, 0)], "strictly increasing"),
        ([ns(2024, 1, 2, 1), ns(2024, 1, 2, 1)], "strictly increasing"),
    ],
)
def test_rejected_bars_write_nothing(tmp_path: Path, ts: list[int], message: str) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", hours(ns(2024, 1, 1), 3)))
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match=message):
        store.write_bars(bars("X", ts))
    nan = bars("X", [ns(2024, 1, 3)])
    nan.close[0] = np.nan
    with pytest.raises(DataError, match="close at index 0 is not finite"):
        store.write_bars(nan)
    assert snapshot(tmp_path) == before


# -- range reads ---------------------------------------------------------------------------

def test_range_reads_across_a_year_boundary(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    ts = hours(ns(2023, 12, 31, 21), 6)  # 21:00 .. 02:00 next year
    store.write_bars(bars("X", ts))
    directory = tmp_path / "bars" / "SIM" / "X" / "1h"
    assert sorted(p.name for p in directory.glob("*.parquet")) == ["2023.parquet",
                                                                   "2024.parquet"]
    last_2023, first_2024 = ns(2023, 12, 31, 23), ns(2024, 1, 1, 0)
    both = store.read_bars("X", "1h", start_ns=last_2023, end_ns=first_2024)
    assert both.ts.tolist() == [last_2023, first_2024]  # both bounds inclusive
    assert store.read_bars("X", "1h", start_ns=first_2024).ts[0] == first_2024
    assert store.read_bars("X", "1h", end_ns=last_2023).ts[-1] == last_2023
    one = store.read_bars("X", "1h", start_ns=first_2024, end_ns=first_2024)
    assert one.ts.tolist() == [first_2024]
    assert len(store.read_bars("X", "1h", start_ns=first_2024 + 1, end_ns=first_2024 + 2)) == 0
    assert len(store.read_bars("X", "1h", start_ns=ns(2030, 1, 1))) == 0
    assert store.read_bars("X", "1h").ts.tolist() == ts.tolist()


def test_range_read_opens_only_the_partitions_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DataStore(tmp_path)
    ts = ns(2021, 1, 1) + np.arange(3 * 365, dtype=np.int64) * NANOS_PER_DAY
    store.write_bars(bars("X", ts, timeframe=NANOS_PER_DAY))
    opened: list[str] = []
    real = store_module._read_partition

    def spy(path: Path, *args: object) -> object:
        opened.append(path.name)
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_read_partition", spy)
    got = store.read_bars("X", "1d", start_ns=ns(2022, 3, 1), end_ns=ns(2022, 3, 31))
    assert opened == ["2022.parquet"]
    assert len(got) == 31
    assert got.ts[0] == ns(2022, 3, 1) and got.ts[-1] == ns(2022, 3, 31)


def test_range_read_of_a_big_partition_matches_slicing(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    ts = ns(2024, 1, 1) + np.arange(200_000, dtype=np.int64) * NANOS_PER_MINUTE
    series = bars("X", ts, timeframe=NANOS_PER_MINUTE)
    store.write_bars(series)
    start, end = int(ts[70_000]), int(ts[70_099])
    got = store.read_bars("X", "1m", start_ns=start, end_ns=end)
    expected = series.slice_time(start, end)
    assert np.array_equal(got.ts, expected.ts)
    assert np.array_equal(got.close, expected.close)


# -- ticks -------------------------------------------------------------------------------

def test_tick_writes_keep_shared_timestamps_and_skip_repeats(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    t = ns(2024, 1, 31, 23, 59)
    first = quotes("EURUSD", [t, t, t, t + 1], [1.1, 1.2, 1.1, 1.3])  # one repeated row
    result = store.write_ticks(first)
    assert result.rows_added == 4
    again = store.write_ticks(first)
    assert (again.rows_added, again.rows_unchanged, again.partitions_written) == (0, 4, ())
    more = quotes("EURUSD", [t, t + 1, ns(2024, 2, 1)], [1.1, 1.4, 1.5])
    result = store.write_ticks(more)
    assert (result.rows_added, result.rows_unchanged) == (2, 1)
    got = store.read_ticks("EURUSD", "quote")
    assert isinstance(got, QuoteSeries)
    assert got.ts.tolist() == [t, t, t, t + 1, t + 1, ns(2024, 2, 1)]
    assert got.bid.tolist() == [1.1, 1.2, 1.1, 1.3, 1.4, 1.5]
    assert got.ask_size.tolist() == [2.0] * 6
    assert got.source == "store:SIM/EURUSD/quotes"
    months = sorted(p.name for p in (tmp_path / "ticks" / "SIM" / "EURUSD" / "quote").iterdir())
    assert months == ["2024-01.parquet", "2024-02.parquet"]


def test_reimporting_a_tick_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(
        "time,price,size\n"
        "2024-03-01 10:00:00.000,100.0,1\n"
        "2024-03-01 10:00:00.000,100.0,1\n"  # two identical prints: both are real trades
        "2024-03-01 10:00:00.250,100.5,2\n"
    )
    store = DataStore(tmp_path / "store")
    first = store.import_file(path, symbol="ABC")
    assert first.kind == "trades" and first.written.rows_added == 3
    before = snapshot(tmp_path / "store")
    second = store.import_file(path, symbol="ABC")
    assert (second.written.rows_added, second.written.rows_unchanged) == (0, 3)
    assert snapshot(tmp_path / "store") == before
    got = store.read_ticks("ABC", "trade")
    assert isinstance(got, TradeSeries)
    assert got.price.tolist() == [100.0, 100.0, 100.5]


def test_tick_range_reads_across_months(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    ts = [ns(2024, 1, 31, 23, 59), ns(2024, 2, 1), ns(2024, 2, 1), ns(2024, 3, 5)]
    store.write_ticks(TradeSeries("X", np.array(ts), np.array([1.0, 2.0, 3.0, 4.0]),
                                  np.ones(4)))
    got = store.read_ticks("X", "trade", start_ns=ns(2024, 2, 1), end_ns=ns(2024, 2, 1))
    assert got.price.tolist() == [2.0, 3.0]
    with pytest.raises(ConfigError, match="unknown tick kind"):
        store.read_ticks("X", "bars")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="trades on SIM"):
        store.read_ticks("X", "quote")


def test_out_of_order_ticks_are_rejected(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    with pytest.raises(DataError, match="in time order"):
        store.write_ticks(quotes("X", [ns(2024, 1, 2), ns(2024, 1, 1)], [1.0, 1.0]))
    assert not tmp_path.joinpath("ticks").exists()


# -- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "symbol", ["BTC/USDT", "EURUSD.m", "ES 03-25", "A%B", ".hidden", "x.", "CON", "NUL.txt",
               "Ünïcode€", "a\\b:c*?", ".."]
)
def test_symbols_round_trip_through_safe_directory_names(tmp_path: Path, symbol: str) -> None:
    name = encode_name(symbol)
    assert decode_name(name) == symbol
    assert "/" not in name and "\\" not in name and ":" not in name
    assert not name.startswith(".") and not name.endswith(".")
    assert name.split(".")[0].upper() not in {"CON", "NUL"}
    store = DataStore(tmp_path)
    store.write_bars(bars(symbol, hours(ns(2024, 1, 2), 2)), venue="BINANCE/SPOT")
    assert store.read_bars(symbol, "1h", venue="BINANCE/SPOT").symbol == symbol
    [entry] = store.catalog()
    assert (entry.symbol, entry.venue) == (symbol, "BINANCE/SPOT")
    files = list((tmp_path / "bars").rglob("*.parquet"))
    assert len(files) == 1 and files[0].relative_to(tmp_path).parts[2] == name


def test_symbol_names_keep_readable_spellings(tmp_path: Path) -> None:
    assert encode_name("BTC/USDT") == "BTC%2FUSDT"
    assert encode_name("EURUSD.m") == "EURUSD.m"
    store = DataStore(tmp_path)
    store.write_bars(bars("BTC/USDT", hours(ns(2024, 1, 2), 2)), timeframe="1m")
    assert (tmp_path / "bars" / "SIM" / "BTC%2FUSDT" / "1m" / "2024.parquet").is_file()
    assert store.read_bars("BTC/USDT", "1m").source == "store:SIM/BTC/USDT/1m"


# -- catalog -------------------------------------------------------------------------------

def test_catalog_figures_match_the_data(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    ts = np.concatenate([hours(ns(2023, 12, 28), 40),              # Thu..Fri
                         hours(ns(2024, 1, 2, 5), 10)])            # gap across the new year
    store.write_bars(bars("X", ts))
    store.write_ticks(quotes("X", [ns(2024, 1, 5), ns(2024, 2, 5)], [1.0, 2.0]), venue="FX")
    entries = store.catalog()
    assert [(e.kind, e.venue, e.symbol, e.timeframe) for e in entries] == [
        ("bars", "SIM", "X", "1h"), ("quotes", "FX", "X", None)]
    bar_entry, quote_entry = entries
    expected_gaps = find_gaps(bars("X", ts))
    assert (bar_entry.first_ts, bar_entry.last_ts, bar_entry.rows) == (int(ts[0]),
                                                                       int(ts[-1]), 50)
    assert bar_entry.partitions == 2
    assert bar_entry.gaps == tuple(expected_gaps)
    assert bar_entry.gap_count == len(expected_gaps) >= 1
    assert bar_entry.missing_bars == sum(g.missing_bars for g in expected_gaps)
    assert store.inspect("X", "1h") == bar_entry
    assert (quote_entry.rows, quote_entry.partitions, quote_entry.gap_count) == (2, 2, 0)
    assert quote_entry.first_ts == ns(2024, 1, 5) and quote_entry.last_ts == ns(2024, 2, 5)
    assert "bars SIM/X 1h: 50 rows" in bar_entry.summary()


def test_catalog_reads_footers_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DataStore(tmp_path)
    store.import_file(bundled_path("goog"))

    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError("catalog read row data")

    monkeypatch.setattr(pq, "read_table", no_data)
    monkeypatch.setattr(pq.ParquetFile, "read", no_data)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", no_data)
    monkeypatch.setattr(ds, "dataset", no_data)
    [entry] = store.catalog()
    assert entry.rows == 2148


def test_catalog_of_an_empty_or_missing_store(tmp_path: Path) -> None:
    assert DataStore(tmp_path / "nowhere").catalog() == []
    with pytest.raises(DataError, match="is empty"):
        DataStore(tmp_path / "nowhere").read_bars("X", "1m")


def test_unknown_dataset_error_lists_what_is_stored(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("BTC/USDT", hours(ns(2024, 1, 2), 2)), timeframe="1m")
    store.write_bars(bars("BTC/USDT", hours(ns(2024, 1, 2), 2)), timeframe="1h")
    store.write_ticks(TradeSeries("BTC/USDT", np.array([ns(2024, 1, 2)]), np.ones(1),
                                  np.ones(1)), venue="BINANCE")
    with pytest.raises(DataError) as info:
        store.read_bars("BTC/USDT", "5m")
    message = str(info.value)
    assert "no 5m bars of 'BTC/USDT' on SIM" in message
    assert "1m bars on SIM, 1h bars on SIM, trades on BINANCE" in message
    with pytest.raises(DataError, match=r"nothing is stored for 'ETH'; stored symbols: BTC/USDT"):
        store.read_bars("ETH", "1m")


# -- imports ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "timeframe", "rows"), [("goog", "1d", 2148),
                                                         ("eurusd", "1h", 5000)])
def test_import_bundled_samples(tmp_path: Path, name: str, timeframe: str, rows: int) -> None:
    store = DataStore(tmp_path)
    result = store.import_file(bundled_path(name))
    assert (result.kind, result.symbol, result.timeframe) == ("bars", name.upper(), timeframe)
    assert result.written.rows_added == rows == result.report.rows_kept
    loaded = load_bars(bundled_path(name)).bars
    got = store.read_bars(name.upper(), timeframe)
    for field in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(got, field), getattr(loaded, field))
    [entry] = store.catalog()
    report = result.report
    assert entry.gap_count == len(report.gaps)  # type: ignore[union-attr]
    assert entry.first_ts == report.start_ns and entry.last_ts == report.end_ns


def test_import_parquet_bars_with_options(tmp_path: Path) -> None:
    path = tmp_path / "spy.parquet"
    pd.DataFrame({
        "timestamp": pd.date_range("2024-01-02 09:30", periods=5, freq="min"),
        "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 7.0,
    }).to_parquet(path)
    store = DataStore(tmp_path / "store")
    result = store.import_file(path, symbol="SPY", venue="NYSE", timezone="America/New_York",
                               timeframe="1m")
    assert (result.symbol, result.venue, result.timeframe) == ("SPY", "NYSE", "1m")
    got = store.read_bars("SPY", "1m", venue="NYSE")
    assert got.ts[0] == ns(2024, 1, 2, 14, 30)


def test_import_kind_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("time,bid,ask,last,volume\n2024-01-02 10:00:00,1.0,1.1,1.05,3\n")
    store = DataStore(tmp_path / "store")
    assert store.import_file(path).kind == "quotes"
    assert store.import_file(path, kind="trade").kind == "trades"
    with pytest.raises(ConfigError, match="unknown kind"):
        store.import_file(path, kind="candles")  # type: ignore[arg-type]


def test_delete_removes_one_dataset(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", hours(ns(2023, 12, 31, 23), 2)))
    store.write_bars(bars("X", hours(ns(2024, 1, 2), 2)), timeframe="1m")
    assert store.delete("X", timeframe="1h") == 2
    assert [e.timeframe for e in store.catalog()] == ["1m"]
    assert store.delete("X", timeframe="1h") == 0
    with pytest.raises(ConfigError):
        store.delete("X")


# -- atomicity -------------------------------------------------------------------------------

@pytest.fixture
def two_year_store(tmp_path: Path) -> tuple[DataStore, dict[str, bytes]]:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", hours(ns(2023, 12, 31, 20), 8)))  # 2023 and 2024 partitions
    return store, snapshot(tmp_path)


def overlapping_update() -> BarSeries:
    return bars("X", hours(ns(2023, 12, 31, 22), 6), base=900.0)  # touches both partitions


def test_writer_failure_on_the_second_partition_leaves_the_store_as_it_was(
    tmp_path: Path, two_year_store: tuple[DataStore, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, before = two_year_store
    real = writes_module._write_parquet
    calls: list[Path] = []

    def failing(table: object, path: Path) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(table, path)  # type: ignore[arg-type]

    monkeypatch.setattr(writes_module, "_write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        store.write_bars(overlapping_update())
    assert snapshot(tmp_path) == before


def test_replace_failure_on_the_second_partition_is_rolled_back(
    tmp_path: Path, two_year_store: tuple[DataStore, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, before = two_year_store
    real = os.replace

    def failing(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith("2024.parquet") and ".tmp" in str(src):
            raise OSError("device went away")
        real(src, dst)

    monkeypatch.setattr(writes_module.os, "replace", failing)
    with pytest.raises(OSError, match="device went away"):
        store.write_bars(overlapping_update())
    assert snapshot(tmp_path) == before
    assert store.read_bars("X", "1h").close.tolist() == [100.0 + i for i in range(8)]


def test_crash_between_partitions_is_undone_when_the_store_is_next_opened(
    tmp_path: Path, two_year_store: tuple[DataStore, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, before = two_year_store
    real = os.replace

    def dies(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith("2024.parquet") and ".tmp" in str(src):
            raise KeyboardInterrupt  # stands for the process being killed
        real(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(writes_module.os, "replace", dies)
        patch.setattr(writes_module, "_roll_back", lambda root, journal: None)  # no cleanup
        with pytest.raises(KeyboardInterrupt):
            store.write_bars(overlapping_update())
    assert snapshot(tmp_path) != before  # half-committed: 2023 new, 2024 old, journal left
    assert list((tmp_path / ".journal").glob("*.json"))

    reopened = DataStore(tmp_path)
    assert snapshot(tmp_path) == before
    assert reopened.read_bars("X", "1h").close.tolist() == [100.0 + i for i in range(8)]


def test_crash_while_staging_leaves_no_stray_files(
    tmp_path: Path, two_year_store: tuple[DataStore, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, before = two_year_store
    real = writes_module._write_parquet
    calls: list[Path] = []

    def dies(table: object, path: Path) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(table, path)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(writes_module, "_write_parquet", dies)
        patch.setattr(writes_module, "_roll_back", lambda root, journal: None)
        with pytest.raises(KeyboardInterrupt):
            store.write_bars(overlapping_update())
    assert any(name.endswith(".tmp") for name in snapshot(tmp_path))
    DataStore(tmp_path)
    assert snapshot(tmp_path) == before


def test_corrupt_partition_is_named_in_the_error(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.write_bars(bars("X", hours(ns(2024, 1, 2), 3)))
    partition = tmp_path / "bars" / "SIM" / "X" / "1h" / "2024.parquet"
    partition.write_bytes(partition.read_bytes()[:100])
    with pytest.raises(DataError, match=r"2024\.parquet: store partition is unreadable"):
        store.read_bars("X", "1h")
    with pytest.raises(DataError, match=r"2024\.parquet: store partition is unreadable"):
        store.write_bars(bars("X", hours(ns(2024, 1, 3), 3)))
    with pytest.raises(DataError, match=r"2024\.parquet: store partition is unreadable"):
        store.catalog()


def test_empty_series_writes_nothing(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    result = store.write_bars(bars("X", []))
    assert result == store_module.WriteResult(0, 0, 0, ())
    assert not (tmp_path / "store").exists()


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        DataStore(tmp_path / "file")


def test_partition_of_another_symbol_is_refused(tmp_path: Path) -> None:
    # what a case-insensitive file system does when 'abc' is asked for and 'ABC' is stored
    store = DataStore(tmp_path)
    store.write_bars(bars("ABC", hours(ns(2024, 1, 2), 2)))
    venue = tmp_path / "bars" / "SIM"
    (venue / "ABC").rename(venue / "abc")
    with pytest.raises(DataError, match="holds 'ABC', not 'abc'"):
        store.read_bars("abc", "1h")
    with pytest.raises(DataError, match="holds 'ABC', not 'abc'"):
        store.write_bars(bars("abc", hours(ns(2024, 1, 3), 2)))


@pytest.mark.usefixtures("two_year_store")
def test_writers_take_turns_and_recovery_waits_for_them(tmp_path: Path) -> None:
    with writes_module.store_lock(tmp_path) as held:
        assert held
        with writes_module.store_lock(tmp_path, wait=False) as second:
            assert not second
        journal = tmp_path / ".journal" / "inprogress.json"
        journal.write_text('{"phase": "commit", "files": [], "created_dirs": []}')
        DataStore(tmp_path)  # a writer holds the lock: its journal is not touched
        assert journal.exists()
    DataStore(tmp_path)
    assert not journal.exists()


def test_crash_after_the_commit_keeps_the_new_data(
    tmp_path: Path, two_year_store: tuple[DataStore, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, before = two_year_store
    with monkeypatch.context() as patch:
        patch.setattr(writes_module, "_finish", lambda root, journal: None)  # dies before cleanup
        store.write_bars(overlapping_update())
    assert any(name.endswith(".bak") for name in snapshot(tmp_path))
    reopened = DataStore(tmp_path)
    names = snapshot(tmp_path)
    assert not any(n.endswith((".bak", ".tmp", ".json")) for n in names)
    assert set(names) == set(before)
    assert reopened.read_bars("X", "1h").close.tolist()[-6:] == [900.0 + i for i in range(6)]


def test_catalog_counts_gaps_it_does_not_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_module, "MAX_LISTED_GAPS", 1)
    store = DataStore(tmp_path)
    ts = ns(2024, 1, 2) + np.array([0, 5, 10, 11], dtype=np.int64) * NANOS_PER_HOUR
    store.write_bars(bars("X", ts), timeframe="1h")
    [entry] = store.catalog()
    assert entry.gaps is None
    assert (entry.gap_count, entry.missing_bars) == (2, 8)
    inspected = store.inspect("X", "1h")
    assert inspected.gaps is not None and len(inspected.gaps) == 2
