from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import dt_to_ns
from tradeloop.data.ticks import TickLoadResult, detect_kind, load_ticks
from tradeloop.data.timestamps import check_single_timezone, offset_problem
from tradeloop.model.data import QuoteSeries, TradeSeries

T0 = dt_to_ns(datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
MS = 1_000_000


def write(tmp_path: Path, text: str, name: str = "ticks.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def quote_series(result: TickLoadResult) -> QuoteSeries:
    assert isinstance(result.ticks, QuoteSeries)
    return result.ticks


def trade_series(result: TickLoadResult) -> TradeSeries:
    assert isinstance(result.ticks, TradeSeries)
    return result.ticks


@pytest.mark.parametrize(
    "header",
    [
        "time,bid,ask,bid_size,ask_size",
        "Timestamp,Bid,Ask,BidSize,AskSize",
        "datetime,bid_price,ask_price,bid_volume,ask_volume",
        "<DATETIME>,<BID>,<ASK>,<BIDVOLUME>,<ASKVOLUME>",
        "Gmt time,Bid,Ask,Bid Qty,Ask Qty",
        "ts,best_bid,best_ask,bid_qty,ask_qty",
    ],
)
def test_quote_spellings(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, header + "\n"
                 "2024-03-01 10:00:00.000,1.1,1.2,5,6\n"
                 "2024-03-01 10:00:00.250,1.15,1.25,7,8\n")
    result = load_ticks(path)
    quotes = quote_series(result)
    assert quotes.symbol == "TICKS"
    assert quotes.ts.tolist() == [T0, T0 + 250 * MS]
    assert quotes.bid.tolist() == [1.1, 1.15]
    assert quotes.ask.tolist() == [1.2, 1.25]
    assert quotes.bid_size.tolist() == [5.0, 7.0]
    assert quotes.ask_size.tolist() == [6.0, 8.0]
    assert result.report.kind == "quote" and result.report.clean


def test_column_order_does_not_matter(tmp_path: Path) -> None:
    # Dukascopy's export puts the ask first
    path = write(tmp_path, "Gmt time,Ask,Bid,AskVolume,BidVolume\n"
                 "01.03.2024 10:00:00.000,1.2,1.1,6,5\n")
    quotes = quote_series(load_ticks(path))
    assert (quotes.bid[0], quotes.ask[0], quotes.bid_size[0], quotes.ask_size[0]) == (
        1.1, 1.2, 5.0, 6.0)
    assert quotes.ts[0] == T0


@pytest.mark.parametrize(
    "header",
    [
        "time,price,size",
        "timestamp,last,qty",
        "datetime,px,quantity",
        "ts,price,volume",
        "Time,Price,Amount",
    ],
)
def test_trade_spellings(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, header + "\n2024-03-01T10:00:00Z,100.5,3\n"
                 "2024-03-01T10:00:00Z,100.25,1\n")
    trades = trade_series(load_ticks(path, symbol="ABC"))
    assert trades.symbol == "ABC"
    assert trades.ts.tolist() == [T0, T0]  # equal timestamps are fine for ticks
    assert trades.price.tolist() == [100.5, 100.25]
    assert trades.size.tolist() == [3.0, 1.0]


def test_binance_style_trades_with_ids_and_epoch_milliseconds(tmp_path: Path) -> None:
    ms = T0 // MS
    path = write(tmp_path, "id,price,qty,quote_qty,time,is_buyer_maker\n"
                 f"101,42000.5,0.01,420.005,{ms},true\n"
                 f"102,42001.0,0.02,840.02,{ms + 5},false\n")
    result = load_ticks(path)
    trades = trade_series(result)
    assert trades.ts.tolist() == [T0, T0 + 5 * MS]
    assert trades.size.tolist() == [0.01, 0.02]
    assert result.trade_ids is not None and result.trade_ids.tolist() == ["101", "102"]
    assert any("milliseconds" in note for note in result.report.notes)


def test_date_and_time_columns_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "Date;Time;Bid;Ask\n2024.03.01;10:00:00;1,1;1,2\n")
    result = load_ticks(path)
    quotes = quote_series(result)
    assert quotes.ts[0] == T0 and quotes.bid[0] == 1.1 and quotes.ask[0] == 1.2
    assert "decimal comma" in result.report.notes


def test_missing_sizes_are_zero_and_noted(tmp_path: Path) -> None:
    result = load_ticks(write(tmp_path, "time,bid,ask\n2024-03-01 10:00:00,1.1,1.2\n"))
    quotes = quote_series(result)
    assert quotes.bid_size.tolist() == [0.0] and quotes.ask_size.tolist() == [0.0]
    assert "no bid_size column: bid_size set to 0" in result.report.notes


def test_nanosecond_timestamps_and_timezones(tmp_path: Path) -> None:
    path = write(tmp_path, "time,price,size\n2024-03-01 11:00:00.000000001,1,1\n")
    trades = trade_series(load_ticks(path, timezone="Europe/Paris"))
    assert trades.ts.tolist() == [T0 + 1]


def test_daylight_saving_offsets_are_one_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, "time,price,size\n"
                 "2024-03-10T01:59:00-05:00,1,1\n"
                 "2024-03-10T03:00:00-04:00,1,1\n")
    trades = trade_series(load_ticks(path))
    assert (trades.ts[1] - trades.ts[0]) == 60_000_000_000


def test_parquet_ticks_with_datetime_index(tmp_path: Path) -> None:
    path = tmp_path / "es.parquet"
    index = pd.DatetimeIndex(["2024-03-01 10:00:00", "2024-03-01 10:00:01"], tz="UTC")
    pd.DataFrame({"Last": [5000.25, 5000.5], "Volume": [2, 3]}, index=index).to_parquet(path)
    trades = trade_series(load_ticks(path))
    assert trades.symbol == "ES"
    assert trades.ts.tolist() == [T0, T0 + 1_000_000_000]
    assert trades.price.tolist() == [5000.25, 5000.5]


def test_parquet_quotes_with_epoch_column(tmp_path: Path) -> None:
    path = tmp_path / "q.parquet"
    pd.DataFrame({"ts": [T0, T0 + 1], "bid": [1.0, 1.0], "ask": [1.1, 1.1]}).to_parquet(path)
    assert quote_series(load_ticks(path)).ts.tolist() == [T0, T0 + 1]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("2024-03-01 10:00:00,1.1,1.2\n2024-03-01 10:00:01,,1.2\n", "row 3: bid is NaN"),
        ("2024-03-01 10:00:00,1.1,abc\n", "row 2: ask is not a number: 'abc'"),
        ("2024-03-01 10:00:00,1.1,inf\n", "row 2: ask is inf"),
        ("2024-03-01 10:00:00,0,1.2\n", "row 2: bid 0.0 is not positive"),
        ("2024-03-01 10:00:00,1.1,1.2\n2024-03-01 10:00:01,1.3,1.2\n",
         "row 3: crossed quote: bid 1.3 is above ask 1.2"),
        ("2024-03-01 10:00:01,1.1,1.2\n2024-03-01 10:00:01,1.1,1.2\n"
         "2024-03-01 10:00:00,1.1,1.2\n",
         "row 4: timestamp 2024-03-01T10:00:00Z is before the previous row's"),
        ("2024-03-01 10:00:00,1.1,1.2\nyesterday,1.1,1.2\n",
         "row 3: timestamp 'yesterday' is not a recognised date/time"),
        ("2024-03-01 10:00:00,1.1,1.2\n,1.1,1.2\n", "row 3: timestamp is missing"),
    ],
)
def test_quote_validation_names_the_row(tmp_path: Path, rows: str, message: str) -> None:
    path = write(tmp_path, "time,bid,ask\n" + rows)
    with pytest.raises(DataError) as info:
        load_ticks(path)
    assert str(info.value) == f"{path}: {message}"


def test_trade_validation_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "time,price,size\n2024-03-01 10:00:00,1,1\n2024-03-01 10:00:00,1,-2\n")
    with pytest.raises(DataError, match=r"ticks\.csv: row 3: size -2\.0 is negative$"):
        load_ticks(path)
    path = write(tmp_path, "time,price,size\n2024-03-01 10:00:00,-1,1\n")
    with pytest.raises(DataError, match=r"row 2: price -1\.0 is not positive$"):
        load_ticks(path)


def test_blank_lines_keep_their_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "time,bid,ask\n2024-03-01 10:00:00,1.1,1.2\n\n"
                 "2024-03-01 10:00:01,1.3,1.2\n")
    with pytest.raises(DataError, match="row 4: crossed quote"):
        load_ticks(path)


def test_repair_drops_bad_rows_and_sorts_stably(tmp_path: Path) -> None:
    path = write(tmp_path, "time,bid,ask\n"
                 "2024-03-01 10:00:02,1.0,1.1\n"
                 "2024-03-01 10:00:01,2.0,2.1\n"   # out of order
                 "2024-03-01 10:00:02,3.0,2.9\n"   # crossed
                 "2024-03-01 10:00:01,4.0,4.1\n"   # out of order, same time as row 3
                 "nonsense,5.0,5.1\n"
                 "2024-03-01 10:00:03,-6.0,6.1\n")
    result = load_ticks(path, repair=True)
    quotes = quote_series(result)
    assert quotes.bid.tolist() == [2.0, 4.0, 1.0]  # equal timestamps keep their file order
    assert np.all(np.diff(quotes.ts) >= 0)
    report = result.report
    assert report.dropped == {"unparseable_timestamp": 1, "non_positive_price": 1,
                              "crossed_quote": 1}
    assert (report.rows_read, report.rows_kept, report.sorted_rows) == (6, 3, 1)
    assert not report.clean
    assert "dropped 3 of 6 rows" in report.summary()


def test_repair_that_leaves_nothing_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "time,price,size\n2024-03-01 10:00:00,0,1\n")
    with pytest.raises(DataError, match="no valid rows left after repair"):
        load_ticks(path, repair=True)


def test_bar_files_and_unknown_columns_are_refused(tmp_path: Path) -> None:
    bars = write(tmp_path, "Date,Open,High,Low,Close\n2024-03-01,1,2,0.5,1.5\n", "bars.csv")
    with pytest.raises(DataError, match="this is a bar file"):
        load_ticks(bars)
    odd = write(tmp_path, "when,foo,bar\n2024-03-01,1,2\n", "odd.csv")
    with pytest.raises(DataError, match=r"odd\.csv: unknown columns when, foo, bar: expected"):
        load_ticks(odd)
    no_time = write(tmp_path, "bid,ask\n1,2\n", "no_time.csv")
    with pytest.raises(DataError, match="no timestamp column"):
        load_ticks(no_time)
    with pytest.raises(DataError, match="no price column"):
        load_ticks(write(tmp_path, "time,bid,ask\n2024-03-01,1,2\n", "q.csv"), kind="trade")
    with pytest.raises(DataError, match=r"no bid column .*; no ask column"):
        load_ticks(write(tmp_path, "time,price\n2024-03-01,1\n", "t.csv"), kind="quote")
    with pytest.raises(ConfigError, match="unknown tick kind"):
        load_ticks(no_time, kind="bars")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown timezone"):
        load_ticks(no_time, timezone="Mars/Olympus")
    with pytest.raises(DataError, match="no such file"):
        load_ticks(tmp_path / "missing.csv")


def test_forced_kind_reads_trades_from_a_quote_and_trade_file(tmp_path: Path) -> None:
    path = write(tmp_path, "time,bid,ask,price,size\n2024-03-01 10:00:00,1,2,1.5,4\n")
    assert isinstance(load_ticks(path).ticks, QuoteSeries)
    trades = trade_series(load_ticks(path, kind="trade"))
    assert trades.price.tolist() == [1.5] and trades.size.tolist() == [4.0]


def test_detect_kind(tmp_path: Path) -> None:
    assert detect_kind(write(tmp_path, "Date,O,H,L,C\n", "a.csv")) == "bars"
    assert detect_kind(write(tmp_path, "time,bid,ask\n", "b.csv")) == "quote"
    assert detect_kind(write(tmp_path, "time,last,qty\n", "c.csv")) == "trade"
    with pytest.raises(DataError, match="unknown columns"):
        detect_kind(write(tmp_path, "time,value\n", "d.csv"))


@pytest.mark.parametrize(
    ("values", "row", "reason"),
    [
        (["2024-01-01 00:00:00+00:00", "2024-01-01 01:00:00+02:00"], 3,
         "has UTC offset +02:00 but earlier rows use +00:00"),
        (["2024-01-01 00:00:00Z", "2024-01-01 01:00:00"], 3,
         "has no UTC offset but row 2 ('2024-01-01 00:00:00Z') has"),
        (["2024-01-01 00:00:00", "2024-01-01 01:00:00-0500"], 3,
         "has UTC offset but row 2 ('2024-01-01 00:00:00') has no"),
        (["2024-01-01 00:00+01:00", "2024-06-01 00:00+02:00", "2024-06-02 00:00+01:30"], 4,
         "has UTC offset +01:30 but earlier rows use +01:00, +02:00"),
    ],
)
def test_offset_problem(values: list[str], row: int, reason: str) -> None:
    rows = np.arange(len(values), dtype=np.int64) + 2
    problem = offset_problem(pd.Series(values), rows)
    assert problem is not None
    assert problem[0] == row and reason in problem[1]


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-01 00:00:00", "2024-01-02 00:00:00", None, ""],
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+00:00"],
        ["2024-03-30T00:00:00+01:00", "2024-04-01T00:00:00+02:00", "2024-11-01T00:00:00+01:00"],
        ["19-Apr-2017", "20-Apr-2017"],  # a date, not an offset
    ],
)
def test_one_timezone_passes(values: list[object]) -> None:
    assert offset_problem(pd.Series(values), np.arange(len(values), dtype=np.int64) + 2) is None
    assert offset_problem(pd.Series([1.0, 2.0]), np.array([2, 3])) is None


def test_check_single_timezone_names_the_source_and_row() -> None:
    rows = np.array([2, 3], dtype=np.int64)
    check_single_timezone(pd.Series(["2024-01-01T00:00Z", "2024-01-02T00:00Z"]), rows, "g.csv")
    bad = pd.Series(["2024-01-01T00:00Z", "2024-01-02T00:00+03:00"])
    with pytest.raises(DataError, match=r"b\.csv: row 3: timestamp '2024-01-02T00:00\+03:00'"):
        check_single_timezone(bad, rows, "b.csv")
