from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloop.core.errors import DataError
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.data import ValidationReport, load_bars
from tradeloop.data.validation import format_duration

HEADER = "Date,Open,High,Low,Close,Volume"
START = datetime(2004, 8, 2, tzinfo=UTC)  # a Monday


def day(i: int) -> str:
    return (START + timedelta(days=i)).strftime("%Y-%m-%d")


def clean_rows(n: int = 40) -> list[list[str]]:
    rows = []
    for i in range(n):
        price = 100.0 + i
        rows.append([day(i), str(price), str(price + 2), str(price - 2), str(price + 1), "1000"])
    return rows


def write(tmp_path: Path, rows: list[list[str]], name: str = "GOOG.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n")
    return path


def fails_with(tmp_path: Path, rows: list[list[str]]) -> str:
    path = write(tmp_path, rows)
    with pytest.raises(DataError) as info:
        load_bars(path)
    prefix = f"{path}: "
    message = str(info.value)
    assert message.startswith(prefix)
    assert "\n" not in message
    return message[len(prefix):]


# row numbers: the header is row 1, so rows[i] is row i + 2

@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (4, "NaN", "close is NaN"),
        (4, "", "close is NaN"),
        (1, "nan", "open is NaN"),
        (2, "inf", "high is inf"),
        (3, "-inf", "low is -inf"),
        (5, "NaN", "volume is NaN"),
        (4, "abc", "close is not a number: 'abc'"),
    ],
)
def test_non_finite_values(tmp_path: Path, field: int, value: str, reason: str) -> None:
    rows = clean_rows()
    rows[5][field] = value
    assert fails_with(tmp_path, rows) == f"row 7: {reason}"


def test_non_positive_price(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[3][1:5] = ["-1.0", "2.0", "-3.0", "1.0"]
    assert fails_with(tmp_path, rows) == "row 5: open -1.0 is not positive"
    rows = clean_rows()
    rows[3][3] = "0"
    assert fails_with(tmp_path, rows) == "row 5: low 0.0 is not positive"


def test_negative_volume(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[8][5] = "-5"
    assert fails_with(tmp_path, rows) == "row 10: volume -5.0 is negative"


def test_high_below_low(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[10][1:5] = ["101.7", "101.5", "102.0", "101.8"]
    assert fails_with(tmp_path, rows) == "row 12: high 101.5 < low 102.0"


def test_open_and_close_outside_range(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[2][1:5] = ["110.0", "105.0", "100.0", "101.0"]
    assert fails_with(tmp_path, rows) == "row 4: open 110.0 is outside [low 100.0, high 105.0]"
    rows = clean_rows()
    rows[2][1:5] = ["101.0", "105.0", "100.0", "99.5"]
    assert fails_with(tmp_path, rows) == "row 4: close 99.5 is outside [low 100.0, high 105.0]"


def test_duplicated_timestamp(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[28][0] = "2004-09-01"
    rows[29][0] = "2004-09-01"
    assert fails_with(tmp_path, rows) == (
        "row 31: duplicated timestamp 2004-09-01T00:00:00Z (first at row 30)"
    )


def test_non_adjacent_duplicate_points_at_first(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[20][0] = rows[3][0]
    assert fails_with(tmp_path, rows) == (
        f"row 22: duplicated timestamp {rows[3][0]}T00:00:00Z (first at row 5)"
    )


def test_out_of_order_timestamp(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[37][0], rows[38][0] = rows[38][0], rows[37][0]
    assert rows[38][0] == "2004-09-08"
    assert fails_with(tmp_path, rows) == (
        "row 40: timestamp 2004-09-08T00:00:00Z is before the previous row's"
    )


def test_timestamp_problems(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[4][0] = ""
    assert fails_with(tmp_path, rows) == "row 6: timestamp is missing"
    rows = clean_rows()
    rows[4][0] = "2004-02-30"
    assert fails_with(tmp_path, rows) == (
        "row 6: timestamp '2004-02-30' is not a recognised date/time"
    )


def test_first_problem_wins(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[30][4] = "NaN"  # row 32
    rows[12][0] = rows[11][0]  # row 14, duplicate of row 13
    rows[20][2] = "1.0"  # row 22, high < low
    assert fails_with(tmp_path, rows).startswith("row 14: duplicated timestamp")


def test_clean_file_report(tmp_path: Path) -> None:
    result = load_bars(write(tmp_path, clean_rows()))
    report = result.report
    assert isinstance(report, ValidationReport)
    assert report.rows_read == report.rows_kept == 40
    assert report.dropped == {}
    assert report.sorted_rows == 0
    assert report.clean
    assert report.timeframe_ns == NANOS_PER_DAY
    assert report.gaps == []  # daily bars every day including weekends: no step > 1 day


def corrupted_rows() -> list[list[str]]:
    rows = clean_rows()
    rows[1][4] = "NaN"                        # non_finite_value
    rows[2][2] = "inf"                        # non_finite_value
    rows[3][3] = "0"                          # non_positive_price
    rows[4][5] = "-1"                         # negative_volume
    rows[5][2], rows[5][3] = rows[5][3], rows[5][2]  # high_below_low
    rows[6][1] = "1000"                       # open_outside_range
    rows[7][4] = "1"                          # close_outside_range
    rows[8][0] = "soon"                       # unparseable_timestamp
    rows[9][0] = ""                           # missing_timestamp
    rows[12][0] = rows[11][0]                 # duplicated_timestamp (rows[11] kept)
    rows[14][0] = rows[10][0]                 # duplicated_timestamp (rows[10] kept)
    rows[20], rows[21] = rows[21], rows[20]   # 21, 20: one row before the previous one
    rows[30], rows[35] = rows[35], rows[30]   # 35, 31, ..., 34, 30: 31 and 30 are
    return rows


def test_repair_counts_and_clean_series(tmp_path: Path) -> None:
    path = write(tmp_path, corrupted_rows())
    before = path.read_bytes()
    result = load_bars(path, repair=True)
    assert path.read_bytes() == before  # the file is never modified
    report = result.report
    assert report.dropped == {
        "missing_timestamp": 1,
        "unparseable_timestamp": 1,
        "non_finite_value": 2,
        "non_positive_price": 1,
        "negative_volume": 1,
        "high_below_low": 1,
        "open_outside_range": 1,
        "close_outside_range": 1,
        "duplicated_timestamp": 2,
    }
    assert report.sorted_rows == 3
    assert report.rows_read == 40
    assert report.rows_kept == 40 - 11
    assert not report.clean
    bars = result.bars
    assert len(bars) == 29
    kept_days = [0, 10, 11, *range(13, 40)]
    kept_days.remove(14)
    expected_ts = [
        int((START + timedelta(days=i)).timestamp()) * 1_000_000_000 for i in kept_days
    ]
    assert bars.ts.tolist() == expected_ts
    assert bars.open.tolist() == [100.0 + i for i in kept_days]
    assert bars.close.tolist() == [101.0 + i for i in kept_days]
    summary = report.summary()
    assert "\n" not in summary
    assert "dropped 11 of 40 rows" in summary
    assert "sorted 3 out-of-order rows" in summary
    assert "2 duplicated timestamp" in summary


def test_repair_with_nothing_left(tmp_path: Path) -> None:
    rows = clean_rows(3)
    for row in rows:
        row[4] = "NaN"
    with pytest.raises(DataError, match="no valid rows left after repair"):
        load_bars(write(tmp_path, rows), repair=True)


def test_format_duration() -> None:
    assert format_duration(NANOS_PER_DAY) == "1d"
    assert format_duration(7 * NANOS_PER_DAY) == "1w"
    assert format_duration(4 * 3_600_000_000_000) == "4h"
    assert format_duration(15 * 60_000_000_000) == "15m"
    assert format_duration(1_500_000_000) == "1500ms"
    assert format_duration(7) == "7ns"


CORRUPTIONS = (
    "nan", "inf", "negative", "zero", "negative_volume", "swap_high_low", "open_high",
    "close_low", "duplicate", "swap_next", "bad_time",
)


def corrupt(rows: list[list[str]], index: int, kind: str, other: int) -> None:
    row = rows[index]
    if kind == "nan":
        row[1 + other % 5] = "NaN"
    elif kind == "inf":
        row[1 + other % 5] = "-inf" if other % 2 else "inf"
    elif kind == "negative":
        row[1 + other % 4] = "-" + row[1 + other % 4]
    elif kind == "zero":
        row[1 + other % 4] = "0"
    elif kind == "negative_volume":
        row[5] = "-3"
    elif kind == "swap_high_low":
        row[2], row[3] = row[3], row[2]
    elif kind == "open_high":
        row[1] = str(float(row[2]) + 1)
    elif kind == "close_low":
        row[4] = str(float(row[3]) / 2)
    elif kind == "duplicate":
        row[0] = rows[other % len(rows)][0]
    elif kind == "swap_next" and index + 1 < len(rows):
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    elif kind == "bad_time":
        row[0] = "not a time"


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    n=st.integers(min_value=2, max_value=30),
    edits=st.lists(
        st.tuples(st.integers(0, 1000), st.sampled_from(CORRUPTIONS), st.integers(0, 1000)),
        max_size=40,
    ),
    data=st.data(),
)
def test_repair_always_yields_a_valid_series(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    edits: list[tuple[int, str, int]],
    data: st.DataObject,
) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows = []
    for i in range(n):
        low = float(rng.uniform(1, 100))
        high = low + float(rng.uniform(0, 5))
        o, c = (float(x) for x in rng.uniform(low, high, 2))
        rows.append([day(i), repr(o), repr(high), repr(low), repr(c), str(int(rng.integers(0, 9)))])
    protected = data.draw(st.integers(0, n - 1))
    protected_day = rows[protected][0]
    for index, kind, other in edits:
        i = index % n
        if rows[i][0] == protected_day and kind != "swap_next":
            continue  # keep one row intact so that repair has something left
        if kind == "duplicate" and rows[other % n][0] == protected_day:
            continue
        corrupt(rows, i, kind, other)
    path = write(tmp_path_factory.mktemp("repair"), rows)
    before = path.read_bytes()
    result = load_bars(path, repair=True)
    assert path.read_bytes() == before
    bars, report = result.bars, result.report
    assert len(bars) >= 1
    assert np.all(np.diff(bars.ts) > 0)
    for column in (bars.open, bars.high, bars.low, bars.close, bars.volume):
        assert column.dtype == np.float64
        assert np.all(np.isfinite(column))
    assert np.all(bars.open > 0) and np.all(bars.low > 0)
    assert np.all(bars.high >= bars.low)
    assert np.all((bars.open >= bars.low) & (bars.open <= bars.high))
    assert np.all((bars.close >= bars.low) & (bars.close <= bars.high))
    assert np.all(bars.volume >= 0)
    assert report.rows_kept + sum(report.dropped.values()) == report.rows_read == n
    # and the repaired file's bars pass the strict policy once written back out
    clean = [
        [day_of(int(bars.ts[i])), *(repr(float(col[i])) for col in
                                    (bars.open, bars.high, bars.low, bars.close, bars.volume))]
        for i in range(len(bars))
    ]
    assert len(load_bars(write(tmp_path_factory.mktemp("clean"), clean)).bars) == len(bars)


def day_of(ts: int) -> str:
    return datetime.fromtimestamp(ts // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d")
