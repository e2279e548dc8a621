"""`tradeloop demo` (what `make demo` runs) backtests every bundled example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tradeloop.examples import EXAMPLES


def test_demo_prints_every_example_and_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tradeloop", "demo", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for cls in ("SmaCross", "RsiReversion", "BollingerBreakout", "MaRsiAtr", "Gotobi"):
        assert proc.stdout.count(cls) >= 2  # its own table and the comparison row
    assert "Bundled examples" in proc.stdout
    assert "Sharpe" in proc.stdout
    for name in EXAMPLES:
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert metrics["failures"] == []
        assert metrics["num_trades"] > 0
