"""The CLI turns user mistakes into one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradeloop.data import bundled_path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", *args], capture_output=True, text=True, check=False
    )


def _corrupt(tmp_path: Path, name: str, line_no: int, edit) -> Path:
    lines = bundled_path("GOOG").read_text().splitlines()
    lines[line_no - 1] = edit(lines[line_no - 1], lines)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _set(field: int, value: str):
    def edit(line: str, _lines: list[str]) -> str:
        parts = line.split(",")
        parts[field] = value
        return ",".join(parts)

    return edit


CASES = [
    ("nan_close.csv", 7, _set(4, "NaN"), "row 7", "close"),
    ("high_below_low.csv", 12, _set(2, "1.0"), "row 12", "high"),
    ("duplicate.csv", 30, lambda line, lines: lines[28], "row 30", "duplicate"),
]


@pytest.mark.parametrize(("name", "row", "edit", "where", "reason"), CASES)
def test_bad_data_gives_one_clear_line(tmp_path: Path, name, row, edit, where, reason):
    path = _corrupt(tmp_path, name, row, edit)
    proc = _cli("backtest", "sma_cross", "--data", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0].replace("\n", "")
    assert where in lines[0]
    assert reason in lines[0].lower()
    assert not (tmp_path / "out").exists()


FAILING = '''
from tradeloop.strategy import Strategy


class Boom(Strategy):
    def on_bar(self, bar):
        if self.position().is_flat and not hasattr(self, "bought"):
            self.bought = True
            self.buy(1)
        if bar.ts >= 1104537600000000000:  # 2005-01-01
            raise ZeroDivisionError("division by zero")
'''


def test_strategy_exception_stops_it_and_results_are_written(tmp_path: Path):
    script = tmp_path / "boom.py"
    script.write_text(FAILING)
    out = tmp_path / "out"
    proc = _cli("backtest", str(script), "--data", "GOOG", "--out", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    message = lines[0]
    assert "Boom" in message
    assert "ZeroDivisionError: division by zero" in message
    assert "on_bar at bar 2005-01-03T00:00:00Z" in message  # the first bar of 2005
    for name in ("trades.csv", "orders.csv", "fills.csv", "equity.csv", "metrics.json"):
        assert (out / name).is_file()
    assert "ZeroDivisionError" in (out / "metrics.json").read_text()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["backtest", "sma_cross", "--param", "fsat=5"], "did you mean 'fast'"),
        (["backtest", "sma_crosss"], "did you mean 'sma_cross'"),
        (["backtest", "sma_cross", "--data", "missing.csv"], "missing.csv does not exist"),
        (["backtest", "sma_cross", "--commission", "lots"], "commission 'lots'"),
        (["backtest", "sma_cross", "--from", "yesterday"], "--from 'yesterday'"),
        (["backtest", "sma_cross", "--param", "fast=ten"], "expects int"),
    ],
)
def test_usage_mistakes(args: list[str], expected: str):
    proc = _cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert expected in proc.stderr


def test_an_output_path_that_cannot_be_a_directory_is_refused_before_running(tmp_path: Path):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me")
    for out, expected in ((blocker, "is a file, not a directory"),
                          (blocker / "sub", "cannot create or write")):
        proc = _cli("backtest", "sma_cross", "--out", str(out))
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert expected in proc.stderr
    assert blocker.read_text() == "keep me"
