from pathlib import Path

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, ns_to_iso
from tradeloop.data import bundled_names, bundled_path, load_bars


def test_bundled_names() -> None:
    assert bundled_names() == ["EURUSD", "GOOG"]


@pytest.mark.parametrize("name", ["goog", "GOOG", "Goog", "goog.csv", " GOOG.CSV "])
def test_bundled_path_is_case_insensitive(name: str) -> None:
    path = bundled_path(name)
    assert isinstance(path, Path)
    assert path.is_file()
    assert path.name == "GOOG.csv"


def test_unknown_bundled_name_lists_available() -> None:
    with pytest.raises(ConfigError, match=r"'msft'.*available: EURUSD, GOOG"):
        bundled_path("msft")


def test_goog_loads() -> None:
    result = load_bars(bundled_path("goog"))
    bars = result.bars
    assert len(bars) == 2148
    assert bars.symbol == "GOOG"
    assert bars.source == str(bundled_path("goog"))
    assert bars.ts.dtype == np.int64
    assert bars.close.dtype == np.float64
    assert np.all(np.diff(bars.ts) > 0)
    assert bars.timeframe_ns == NANOS_PER_DAY
    assert ns_to_iso(int(bars.ts[0])) == "2004-08-19T00:00:00Z"
    assert ns_to_iso(int(bars.ts[-1])) == "2013-03-01T00:00:00Z"
    first, last = bars.bar(0), bars.bar(-1)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        100.0, 104.06, 95.96, 100.34, 22351900.0,
    )
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        797.8, 807.14, 796.15, 806.19, 2175400.0,
    )
    report = result.report
    assert report.rows_read == report.rows_kept == 2148
    assert report.clean
    # weekends are not gaps; exchange holidays (a missing weekday) are
    assert report.gaps
    assert all(g.missing_bars >= 1 for g in report.gaps)
    assert "2148 bars of 1d" in report.summary()


def test_eurusd_loads() -> None:
    result = load_bars(bundled_path("EURUSD"))
    bars = result.bars
    assert len(bars) == 5000
    assert bars.symbol == "EURUSD"
    assert np.all(np.diff(bars.ts) > 0)
    assert bars.timeframe_ns == NANOS_PER_HOUR
    assert ns_to_iso(int(bars.ts[0])) == "2017-04-19T09:00:00Z"
    assert ns_to_iso(int(bars.ts[-1])) == "2018-02-07T15:00:00Z"
    first, last = bars.bar(0), bars.bar(-1)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        1.0716, 1.0722, 1.07083, 1.07219, 1413.0,
    )
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        1.23427, 1.23444, 1.22904, 1.22904, 6143.0,
    )
    # the only gaps are the Christmas and New Year closures, not the ~40 weekends
    gaps = result.report.gaps
    assert [ns_to_iso(g.start_ns)[:10] for g in gaps] == ["2017-12-22", "2017-12-29"]
