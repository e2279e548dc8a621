"""``tradeloop walkforward`` prints the windows in and out of sample and writes its files; bad
options are one clear line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

GRID = ("--param", "fast=5:20:5", "--param", "slow=30:90:30")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False)


def test_walkforward_prints_the_windows_table(tmp_path: Path, tradeloop_home: Path) -> None:
    out = tmp_path / "wf"
    proc = _cli("walkforward", "sma_cross", "--data", "EURUSD", *GRID, "--windows", "4",
                "--mode", "rolling", "--train-ratio", "3", "--workers", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    assert "SmaCross walk-forward: 4 rolling windows" in text
    for header in ("out of sample", "fast", "slow", "IS sharpe", "OOS sharpe", "WFE"):
        assert header in text
    with (out / "windows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    for row in rows:  # each window's row of the table: its dates and chosen parameters
        line = next(line for line in text.splitlines()
                    if f"{row['oos_start'][:10]} .. {row['oos_end'][:10]}" in line)
        assert f" {row['fast']} " in line and f" {row['slow']} " in line
    for k in (1, 2, 3, 4):
        assert f"window {k}: DSR" in text
    assert "walk-forward efficiency" in text
    for name in ("windows.csv", "oos_equity.csv", "oos_trades.csv", "report.html", "run.json"):
        assert (out / name).is_file()
        assert f"wrote {out / name}" in text
    assert "run " in text
    assert (tradeloop_home / "tradeloop.db").exists()


@pytest.mark.parametrize(("options", "message"), [
    (("--windows", "0"), "--windows must be"),
    (("--mode", "sideways"), "--mode 'sideways'"),
    (("--train-ratio", "-1"), "--train-ratio must be a positive"),
    (("--from", "2018-02-05"), "needs at least 70 bars"),
    (("--method", "random"), "--method random needs --trials"),
])
def test_bad_options_are_one_line(tmp_path: Path, options: tuple[str, ...],
                                  message: str) -> None:
    out = tmp_path / "wf"
    proc = _cli("walkforward", "sma_cross", "--data", "EURUSD", *GRID, "--workers", "1",
                "--out", str(out), *options)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert not out.exists()
