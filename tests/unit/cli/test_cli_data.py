"""``tradeloop data`` and ``tradeloop calendar`` end to end: a real store under an isolated
home, real files, the installed command run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.data import bundled_path

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="160")
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=env)


def _store_files(home: Path) -> dict[str, bytes]:
    root = home / "store"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".lock" not in p.name}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_import_list_inspect_resample_and_backtest_a_stored_symbol(home: Path, tmp_path: Path
                                                                   ) -> None:
    done = _cli(home, "data", "import", str(bundled_path("EURUSD")), str(bundled_path("GOOG")))
    assert done.returncode == 0, done.stderr
    assert "bars SIM/EURUSD 1h: 5,000 added" in done.stdout
    assert "bars SIM/GOOG 1d: 2,148 added" in done.stdout
    again = _cli(home, "data", "import", str(bundled_path("EURUSD")))
    assert "0 added, 0 replaced, 5,000 already stored" in again.stdout  # never doubled

    listed = _cli(home, "data", "list")
    assert listed.returncode == 0
    assert "EURUSD" in listed.stdout and "5,000" in listed.stdout and "2,148" in listed.stdout

    inspected = _cli(home, "data", "inspect", "EURUSD")
    assert inspected.returncode == 0, inspected.stderr
    assert "5000 rows, 2017-04-19T09:00:00Z to 2018-02-07T15:00:00Z, 2 gaps" in inspected.stdout
    assert "gap: 22 missing bar(s) between 2017-12-22T21:00:00Z" in inspected.stdout

    resampled = _cli(home, "data", "resample", "EURUSD", "--to", "4h")
    assert resampled.returncode == 0, resampled.stderr
    assert "SIM/EURUSD 1h -> 4h" in resampled.stdout
    assert "4h" in _cli(home, "data", "list").stdout

    out = tmp_path / "run"
    run = _cli(home, "backtest", "sma_cross", "--data", "EURUSD@4h", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "store:SIM/EURUSD/4h" in run.stdout
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) > 0
    # the plain symbol takes the shortest stored bars: the golden EURUSD figures again
    golden = _cli(home, "backtest", "sma_cross", "--data", "EURUSD", "--out", str(tmp_path / "g"))
    assert "100,000.0705" in golden.stdout


def test_inspect_and_backtest_name_what_is_stored_when_asked_for_something_else(home: Path
                                                                                ) -> None:
    _cli(home, "data", "import", str(bundled_path("GOOG")))
    missing = _cli(home, "data", "inspect", "MSFT")
    assert missing.returncode == 2
    assert "no bars of MSFT stored (stored: GOOG)" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong_length = _cli(home, "data", "inspect", "GOOG", "--timeframe", "1h")
    assert "no 1h bars of GOOG stored (it has SIM/1d)" in wrong_length.stderr


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("unknown_columns.csv", "when,px_open,px_close\n2024-01-02,1,2\n", "unknown_columns.csv"),
        ("bad_time.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n"
         "yesterday,1,2,0.5,1.5,10\n", "row 3"),
        ("mixed_zones.csv", "Date,Open,High,Low,Close,Volume\n"
         "2024-01-02T10:00:00+00:00,1,2,0.5,1.5,10\n2024-01-02T11:00:00+05:00,1,2,0.5,1.5,10\n"
         "2024-01-02T12:00:00,1,2,0.5,1.5,10\n", "mixed_zones.csv"),
    ],
)
def test_a_rejected_file_is_one_line_and_leaves_the_store_untouched(
    home: Path, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    _cli(home, "data", "import", str(bundled_path("GOOG")))
    before = _store_files(home)
    bad = tmp_path / name
    bad.write_text(text)
    done = _cli(home, "data", "import", str(bad), "--symbol", "GOOG")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _store_files(home) == before


def test_a_truncated_parquet_file_is_refused(home: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(bundled_path("GOOG"))
    whole = tmp_path / "goog.parquet"
    frame.to_parquet(whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    done = _cli(home, "data", "import", str(cut))
    assert done.returncode == 2
    assert "cut.parquet" in done.stderr and "Parquet" in done.stderr
    assert not (home / "store" / "bars").exists()


def test_bars_from_a_tick_file_into_the_store_and_into_a_file(home: Path, tmp_path: Path
                                                              ) -> None:
    rng = np.random.default_rng(5)
    n = 5_000
    ts = pd.Timestamp("2024-03-08 20:00", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, 3 * 3600 * 10**9, n)), unit="ns")
    mid = 1.09 + np.cumsum(rng.normal(0, 1e-5, n))
    ticks = tmp_path / "EURUSD_ticks.csv"
    pd.DataFrame({"timestamp": ts, "bid": mid - 5e-5, "ask": mid + 5e-5}).to_csv(ticks,
                                                                                 index=False)
    stored = _cli(home, "data", "bars", str(ticks), "--interval", "1m", "--symbol", "EURUSD")
    assert stored.returncode == 0, stored.stderr
    assert "5,000 ticks ->" in stored.stdout and "stored:" in stored.stdout
    assert "EURUSD" in _cli(home, "data", "list").stdout
    out = tmp_path / "bars.csv"
    to_file = _cli(home, "data", "bars", str(ticks), "--interval", "ticks:100", "--out", str(out))
    assert to_file.returncode == 0, to_file.stderr
    written = pd.read_csv(out)
    assert len(written) == n // 100 and list(written.columns[:2]) == ["timestamp", "open"]
    refused = _cli(home, "data", "bars", str(ticks), "--interval", "volume:50")
    assert refused.returncode == 2 and "give --out FILE" in refused.stderr


def test_calendar_import_show_and_sessions(home: Path) -> None:
    done = _cli(home, "calendar", "import", str(FIXTURES / "economic_events.csv"))
    assert done.returncode == 0, done.stderr
    assert "new events" in done.stdout
    shown = _cli(home, "calendar", "show", "--from", "2020-01-01", "--to", "2030-12-31")
    assert shown.returncode == 0, shown.stderr
    assert "economic events" in shown.stdout
    sessions = _cli(home, "calendar", "sessions", "--date", "2024-03-11")
    assert sessions.returncode == 0, sessions.stderr
    # US clocks changed on 2024-03-10, the UK's not until 2024-03-31
    assert "new_york        │ 2024-03-11 12:00" in sessions.stdout
    assert "london          │ 2024-03-11 08:00" in sessions.stdout
    nyse = _cli(home, "calendar", "sessions", "--date", "2024-07-04", "--exchange", "XNYS")
    assert "closed" in nyse.stdout
    bad = _cli(home, "calendar", "show", "--from", "tomorrow")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
