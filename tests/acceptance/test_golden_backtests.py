"""Golden backtests: figures that backtesting.py 0.6.6 and backtrader 1.9.78 give for the same
workload on the same files (sma_cross 10/30, 1 unit, long only, no costs, next-open fills)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.data import bundled_path
from tradeloop.services import BacktestRequest, run_backtest

GOLDEN = [
    ("GOOG", 33, Decimal("1000773.94")),
    ("EURUSD", 83, Decimal("1000000.0705")),
]


@pytest.mark.parametrize(("data", "trips", "final"), GOLDEN)
@pytest.mark.parametrize("streaming", [False, True], ids=["precomputed", "streaming"])
def test_sma_cross_golden(data: str, trips: int, final: Decimal, streaming: bool, tmp_path: Path):
    outcome = run_backtest(BacktestRequest(
        strategy="sma_cross", data=(str(bundled_path(data)),), cash="1000000",
        out_dir=tmp_path, streaming_indicators=streaming,
    ))
    assert outcome.result.final_equity == final
    assert outcome.result.metrics["num_trades"] == trips
    assert outcome.result.run.failures == []


def test_cli_writes_the_golden_files(tmp_path: Path):
    out = tmp_path / "goog"
    proc = subprocess.run(
        [sys.executable, "-m", "tradeloop", "backtest", "sma_cross", "--data",
         str(bundled_path("GOOG")), "--cash", "1000000", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1,000,773.94" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_trades"] == 33
    assert metrics["final_equity"] == pytest.approx(1000773.94, abs=1e-9)
    assert metrics["start_equity"] == 1_000_000
    for key in ("total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar",
                "max_drawdown", "max_drawdown_duration_days", "win_rate", "profit_factor",
                "expectancy", "average_win", "average_loss", "exposure_time"):
        assert key in metrics
    with (out / "trades.csv").open() as fh:
        trades = list(csv.DictReader(fh))
    assert len(trades) == 33
    assert trades[-1]["exit_time"] == "" and trades[-1]["exit_price"] == ""
    assert all(t["exit_time"] for t in trades[:-1])
    with (out / "fills.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 65
    with (out / "equity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2148
    assert float(rows[-1]["equity"]) == pytest.approx(1000773.94, abs=1e-6)
    assert (out / "orders.csv").read_text().count("\n") == 66
