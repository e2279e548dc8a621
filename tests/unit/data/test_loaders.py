from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_HOUR, dt_to_ns
from tradeloop.data import LoadResult, load_bars

ROWS = [
    ("2024-01-02 09:00:00", 10.0, 11.0, 9.5, 10.5, 100),
    ("2024-01-02 10:00:00", 10.5, 12.0, 10.0, 11.5, 200),
    ("2024-01-02 11:00:00", 11.5, 11.75, 11.0, 11.25, 300),
]
TS = [dt_to_ns(datetime(2024, 1, 2, h, tzinfo=UTC)) for h in (9, 10, 11)]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(header: str, rows: Sequence[Sequence[object]] = ROWS, sep: str = ",") -> str:
    lines = [header.replace(",", sep)]
    lines += [sep.join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def assert_rows(result: LoadResult, volume: bool = True) -> None:
    bars = result.bars
    assert bars.ts.tolist() == TS
    assert bars.open.tolist() == [10.0, 10.5, 11.5]
    assert bars.high.tolist() == [11.0, 12.0, 11.75]
    assert bars.low.tolist() == [9.5, 10.0, 11.0]
    assert bars.close.tolist() == [10.5, 11.5, 11.25]
    assert bars.volume.tolist() == ([100.0, 200.0, 300.0] if volume else [0.0, 0.0, 0.0])
    assert bars.timeframe_ns == NANOS_PER_HOUR


@pytest.mark.parametrize(
    "header",
    [
        "Date,Open,High,Low,Close,Volume",
        "datetime,open,high,low,close,volume",
        "Datetime,OPEN,HIGH,LOW,CLOSE,VOLUME",
        "timestamp,o,h,l,c,v",
        "time,O,H,L,C,vol",
        "ts,Open,High,Low,Close,tick_volume",
        "date_time,Open,High,Low,Close,TickVol",
        "Date Time,Open,High,Low,Close,Tick Volume",
        "<DATETIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>",
        " Date , Open , High , Low , Close , Volume ",
    ],
)
def test_column_spellings(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, "eurusd.csv", csv_text(header))
    result = load_bars(path)
    assert_rows(result)
    assert result.bars.symbol == "EURUSD"


def test_gmt_time_dukascopy_layout(tmp_path: Path) -> None:
    rows = [(datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S").strftime("%d.%m.%Y %H:%M:%S.000"),
             *r[1:]) for r in ROWS]
    path = write(tmp_path, "d.csv", csv_text("Gmt time,Open,High,Low,Close,Volume", rows))
    assert_rows(load_bars(path))


def test_close_preferred_over_adj_close(tmp_path: Path) -> None:
    rows = [(*r[:5], r[4] / 2, r[5]) for r in ROWS]
    path = write(tmp_path, "y.csv", csv_text("Date,Open,High,Low,Close,Adj Close,Volume", rows))
    assert_rows(load_bars(path))


def test_missing_volume_gives_zeros_and_a_note(tmp_path: Path) -> None:
    rows = [r[:5] for r in ROWS]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close", rows))
    result = load_bars(path)
    assert_rows(result, volume=False)
    assert any("no volume column" in note for note in result.report.notes)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters(tmp_path: Path, sep: str) -> None:
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", sep=sep))
    assert_rows(load_bars(path))


def test_semicolon_with_decimal_comma(tmp_path: Path) -> None:
    rows = [(r[0], *(str(v).replace(".", ",") for v in r[1:])) for r in ROWS]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows, sep=";"))
    result = load_bars(path)
    assert_rows(result)
    assert "decimal comma" in result.report.notes


def mt5_text() -> str:
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for stamp, o, h, lo, c, v in ROWS:
        day, clock = stamp.split(" ")
        lines.append(f"{day.replace('-', '.')}\t{clock}\t{o}\t{h}\t{lo}\t{c}\t{v}\t0\t12")
    return "\n".join(lines) + "\n"


def test_metatrader5_export(tmp_path: Path) -> None:
    path = write(tmp_path, "EURUSD_H1.csv", mt5_text())
    result = load_bars(path, symbol="EURUSD")
    assert_rows(result)  # <VOL> is all zero, so <TICKVOL> is used
    assert result.bars.symbol == "EURUSD"
    assert any("<TICKVOL>" in note for note in result.report.notes)


def test_metatrader5_export_in_utf16(tmp_path: Path) -> None:
    path = write(tmp_path, "EURUSD_H1.csv", mt5_text(), encoding="utf-16")
    assert_rows(load_bars(path))


def test_metatrader4_date_and_short_time(tmp_path: Path) -> None:
    lines = ["Date,Time,Open,High,Low,Close,Volume"]
    for stamp, *values in ROWS:
        day, clock = stamp.split(" ")
        lines.append(",".join([day.replace("-", "."), clock[:5], *map(str, values)]))
    path = write(tmp_path, "x.csv", "\n".join(lines) + "\n")
    assert_rows(load_bars(path))


@pytest.mark.parametrize(("scale", "unit"), [(1, "seconds"), (1000, "milliseconds"),
                                             (1_000_000_000, "nanoseconds")])
def test_epoch_timestamps(tmp_path: Path, scale: int, unit: str) -> None:
    rows = [(ts // 1_000_000_000 * scale, *r[1:]) for ts, r in zip(TS, ROWS, strict=True)]
    path = write(tmp_path, "x.csv", csv_text("timestamp,open,high,low,close,volume", rows))
    result = load_bars(path, timezone="Asia/Tokyo")  # epochs are UTC whatever the timezone
    assert_rows(result)
    assert any(unit in note for note in result.report.notes)


def test_timezone_aware_strings(tmp_path: Path) -> None:
    # two offsets one hour apart are one timezone (daylight saving); "Z" is +00:00
    stamps = ["2024-01-02T10:00:00+01:00", "2024-01-02T10:00:00Z", "2024-01-02T11:00:00+00:00"]
    rows = [(s, *r[1:]) for s, r in zip(stamps, ROWS, strict=True)]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    assert_rows(load_bars(path, timezone="America/New_York"))  # offsets win over timezone


def test_naive_timestamps_in_new_york(tmp_path: Path) -> None:
    rows = [("2024-01-02 09:30:00", 1, 2, 0.5, 1.5, 1), ("2024-07-01 09:30:00", 1, 2, 0.5, 1.5, 1)]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    bars = load_bars(path, timezone="America/New_York").bars
    assert bars.ts.tolist() == [
        dt_to_ns(datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),  # EST, UTC-5
        dt_to_ns(datetime(2024, 7, 1, 13, 30, tzinfo=UTC)),  # EDT, UTC-4
    ]


def test_nonexistent_local_time(tmp_path: Path) -> None:
    rows = [("2024-03-10 01:00:00", 1, 2, 0.5, 1.5, 1), ("2024-03-10 02:30:00", 1, 2, 0.5, 1.5, 1)]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    with pytest.raises(DataError) as info:
        load_bars(path, timezone="America/New_York")
    assert str(info.value) == (
        f"{path}: row 3: timestamp '2024-03-10 02:30:00' does not exist in America/New_York "
        "(skipped by a daylight-saving change)"
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "not a zone", "../etc/passwd"])
def test_invalid_timezone(tmp_path: Path, zone: str) -> None:
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume"))
    with pytest.raises(ConfigError, match="timezone"):
        load_bars(path, timezone=zone)


def test_missing_column_message(tmp_path: Path) -> None:
    rows = [(r[0], r[1], r[2], r[4]) for r in ROWS]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Close", rows))
    with pytest.raises(DataError) as info:
        load_bars(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "no low column (accepted: low, l)" in message
    assert "columns found: Date, Open, High, Close" in message
    assert "\n" not in message


def test_missing_time_column_message(tmp_path: Path) -> None:
    rows = [r[1:] for r in ROWS]
    path = write(tmp_path, "x.csv", csv_text("Open,High,Low,Close,Volume", rows))
    expected = r"no timestamp column \(accepted: datetime, .*, date, or a date column plus"
    with pytest.raises(DataError, match=expected):
        load_bars(path)


def test_unparseable_timestamp_names_the_row(tmp_path: Path) -> None:
    rows = [ROWS[0], ("yesterday", *ROWS[1][1:]), ROWS[2]]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    with pytest.raises(DataError) as info:
        load_bars(path)
    assert str(info.value) == f"{path}: row 3: timestamp 'yesterday' is not a recognised date/time"


def test_blank_lines_are_skipped_and_keep_row_numbers(tmp_path: Path) -> None:
    text = csv_text("Date,Open,High,Low,Close,Volume").replace("\n2024", "\n\n2024", 1)
    path = write(tmp_path, "x.csv", text + "\n")
    result = load_bars(path)
    assert_rows(result)
    assert any("blank" in note for note in result.report.notes)
    bad = text.replace("11.25", "NaN")
    path = write(tmp_path, "y.csv", bad)
    with pytest.raises(DataError, match=r"y\.csv: row 5: close is NaN$"):
        load_bars(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_bars(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        load_bars(write(tmp_path, "x.csv", ""))
    with pytest.raises(DataError, match="no data rows"):
        load_bars(write(tmp_path, "y.csv", "Date,Open,High,Low,Close,Volume\n"))


def test_symbol_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, "spy_daily.csv", csv_text("Date,Open,High,Low,Close,Volume"))
    assert load_bars(path).bars.symbol == "SPY_DAILY"
    assert load_bars(str(path), symbol="SPY").bars.symbol == "SPY"
    assert load_bars(str(path)).bars.source == str(path)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime([r[0] for r in ROWS]).tz_localize("UTC"),
            "open": [r[1] for r in ROWS],
            "high": [r[2] for r in ROWS],
            "low": [r[3] for r in ROWS],
            "close": [r[4] for r in ROWS],
            "volume": [r[5] for r in ROWS],
        }
    )


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"eurusd{suffix}"
    frame().to_parquet(path, index=False)
    result = load_bars(path)
    assert_rows(result)
    assert result.bars.symbol == "EURUSD"


def test_parquet_datetime_index_and_naive_times(tmp_path: Path) -> None:
    df = frame()
    df["timestamp"] = df["timestamp"].dt.tz_convert("Europe/Paris").dt.tz_localize(None)
    df = df.set_index("timestamp").rename(columns=str.title)
    path = tmp_path / "x.parquet"
    df.to_parquet(path)
    assert_rows(load_bars(path, timezone="Europe/Paris"))


def test_parquet_epoch_and_row_numbers(tmp_path: Path) -> None:
    df = frame()
    df["timestamp"] = np.array(TS, dtype=np.int64) // 1_000_000
    df.loc[1, "high"] = 1.0
    path = tmp_path / "x.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(DataError) as info:
        load_bars(path)
    # record 2 (1-based) is reported as row 3, as if the file had a header row
    assert str(info.value) == f"{path}: row 3: high 1.0 < low 10.0"


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.parquet", csv_text("Date,Open,High,Low,Close,Volume"))
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_bars(path)


def test_ragged_csv_is_a_data_error(tmp_path: Path) -> None:
    text = csv_text("Date,Open,High,Low,Close,Volume") + "2024-01-02 12:00:00,1,2,0.5,1,1,9,9\n"
    with pytest.raises(DataError, match="cannot read as CSV"):
        load_bars(write(tmp_path, "x.csv", text))


def test_yyyymmdd_numbers_are_dates_not_epochs(tmp_path: Path) -> None:
    rows = [(20240102, 1, 2, 0.5, 1.5, 1), (20240103, 1, 2, 0.5, 1.5, 1)]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    bars = load_bars(path).bars
    assert bars.ts.tolist() == [dt_to_ns(datetime(2024, 1, d, tzinfo=UTC)) for d in (2, 3)]


def test_stooq_style_compact_date_and_time(tmp_path: Path) -> None:
    text = "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>\n" + "".join(
        f"X,60,20240102,{h:02d}0000,{o},{hi},{lo},{c},{v}\n"
        for h, (_, o, hi, lo, c, v) in zip((9, 10, 11), ROWS, strict=True)
    )
    assert_rows(load_bars(write(tmp_path, "x.csv", text)))


@pytest.mark.parametrize("repair", [False, True])
def test_mixed_offsets_and_local_times_are_rejected(tmp_path: Path, repair: bool) -> None:
    stamps = ["2024-01-02 10:00:00", "2024-01-02T10:00:00Z", "2024-01-02 12:00:00"]
    rows = [(s, *r[1:]) for s, r in zip(stamps, ROWS, strict=True)]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    with pytest.raises(DataError) as info:
        load_bars(path, timezone="Europe/Berlin", repair=repair)
    assert str(info.value) == (
        f"{path}: row 3: timestamp '2024-01-02T10:00:00Z' has UTC offset but row 2 "
        "('2024-01-02 10:00:00') has no: a file must not mix local times with UTC offsets"
    )


@pytest.mark.parametrize("repair", [False, True])
def test_offsets_more_than_an_hour_apart_are_rejected(tmp_path: Path, repair: bool) -> None:
    stamps = ["2024-01-02T10:00:00+01:00", "2024-01-02T10:00:00Z", "2024-01-02T06:00:00-05:00"]
    rows = [(s, *r[1:]) for s, r in zip(stamps, ROWS, strict=True)]
    text = "\n" + csv_text("Date,Open,High,Low,Close,Volume", rows)  # a blank first line
    path = write(tmp_path, "x.csv", text)
    with pytest.raises(DataError) as info:
        load_bars(path, repair=repair)
    message = str(info.value)
    assert message.startswith(f"{path}: row 5: timestamp '2024-01-02T06:00:00-05:00' has UTC "
                              "offset -05:00 but earlier rows use +01:00, +00:00")
    assert "\n" not in message


def test_mixed_offsets_in_a_parquet_text_column_are_rejected(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "timestamp": ["2024-01-02T09:00:00Z", "2024-01-02T10:00:00+05:30"],
        "open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0],
    })
    path = tmp_path / "x.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"x\.parquet: row 3: .*UTC offset \+05:30"):
        load_bars(path)


def test_ambiguous_local_times_are_inferred_from_order(tmp_path: Path) -> None:
    stamps = ["2021-11-07 00:30", "2021-11-07 01:30", "2021-11-07 01:30", "2021-11-07 02:30"]
    rows = [(s, 1, 2, 0.5, 1.5, 1) for s in stamps]
    path = write(tmp_path, "x.csv", csv_text("Date,Open,High,Low,Close,Volume", rows))
    bars = load_bars(path, timezone="America/New_York").bars
    assert np.diff(bars.ts).tolist() == [NANOS_PER_HOUR] * 3
