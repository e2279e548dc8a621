"""A backtest under a daily loss limit and a maximum of trades per day, on a small crafted data
set whose outcome is worked out by hand below: the trades taken and the orders denied, with
their reasons, are exactly those."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tradeloop.services import BacktestRequest, run_backtest

STRATEGY = '''
from tradeloop.strategy import Strategy


class Flipper(Strategy):
    """Buys 10 when flat and closes when long, on every bar (fills at the next open)."""

    def on_bar(self, bar):
        if self.open_orders():
            return
        if self.position().quantity:
            self.close()
        else:
            self.buy(10)
'''

RISK = """
[risk]
daily_loss_limit = "100"
daily_loss_action = "reduce"

[risk.account]
max_trades_per_day = 3
"""


def crafted_bars(path: Path) -> None:
    """Monday 2025-01-06: ten hourly bars flat at 100. Tuesday: ten hourly bars falling 5 an
    hour, each opening where the last one closed (100, 95, 90...)."""
    rows = [(f"2025-01-06 {h:02d}:00", 100, 100, 100, 100) for h in range(10)]
    for h in range(10):
        o = 100 - 5 * h
        rows.append((f"2025-01-07 {h:02d}:00", o, o, o - 5, o - 5))
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time", "open", "high", "low", "close", "volume"])
        writer.writerows((*row, 1_000_000) for row in rows)


# Worked out by hand (the trading day is UTC's; an order fills at the next bar's open):
# Monday: buy at bars 0, 2, 4 (filled at the opens of bars 1, 3, 5, all 100), closed at bars
#   1, 3, 5 (filled at 100): three round trips of 0. The buys of bars 6, 7, 8, 9 would be a
#   fourth trade that day: denied, TRADES_PER_DAY.
# Tuesday: equity at the start of the day 100,000. Buy at bar 0, filled at 95; closed at bar 1,
#   filled at 90: -50. Buy at bar 2, filled at 85. At bar 3 (close 80) the position is down 50
#   more: the day's loss is 100, the limit: trading moves to REDUCING before the strategy sees
#   the bar. Its close at bar 3 still passes (filled at 80: -50). The buys of bars 4 to 9 are
#   denied: reducing only, because of the daily loss.
EXPECTED_TRADES = [
    ("2025-01-06T01:00:00", "100", "2025-01-06T02:00:00", "100"),
    ("2025-01-06T03:00:00", "100", "2025-01-06T04:00:00", "100"),
    ("2025-01-06T05:00:00", "100", "2025-01-06T06:00:00", "100"),
    ("2025-01-07T01:00:00", "95", "2025-01-07T02:00:00", "90"),
    ("2025-01-07T03:00:00", "85", "2025-01-07T04:00:00", "80"),
]
EXPECTED_DENIALS = (
    [(f"2025-01-06T{h:02d}:00:00", "TRADES_PER_DAY") for h in (7, 8, 9)]
    + [("2025-01-06T10:00:00", "TRADES_PER_DAY")]
    + [(f"2025-01-07T{h:02d}:00:00", "TRADING_STATE") for h in range(5, 11)]
)


def _run(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "flipper.py").write_text(STRATEGY)
    crafted_bars(tmp_path / "CRAFT.csv")
    (tmp_path / "risk.toml").write_text(RISK)
    return run_backtest(BacktestRequest(
        strategy=str(tmp_path / "flipper.py"), data=(str(tmp_path / "CRAFT.csv"),),
        out_dir=tmp_path / "out", risk=tmp_path / "risk.toml",
    ))


def _iso(ns: int) -> str:
    from tradeloop.core.time import ns_to_iso

    return ns_to_iso(ns).replace("+00:00", "").replace("Z", "")[:19]


def test_the_trades_taken_and_the_orders_denied_are_the_hand_computed_ones(
    tmp_path: Path,
) -> None:
    outcome = _run(tmp_path)
    result = outcome.result
    trades = [(_iso(t.entry_ts), f"{t.entry_price:g}", _iso(t.exit_ts or 0), f"{t.exit_price:g}")
              for t in result.trades]
    assert trades == EXPECTED_TRADES
    assert [t.pnl for t in result.trades] == [0, 0, 0, -50, -50]
    assert result.final_equity == Decimal("99900")
    # a denial is stamped when the strategy sent the order: the close of the bar it saw
    assert [(_iso(d.ts), d.code) for d in result.denials] == EXPECTED_DENIALS
    first = result.denials[0]
    assert (first.limit, first.value) == ("3", "4")  # the limit, and the count it would make
    tuesday = result.denials[-1]
    assert "reducing positions only" in tuesday.reason and "daily loss" in tuesday.reason
    assert result.metrics["num_denied_orders"] == 10


def test_the_denials_are_written_and_printed(tmp_path: Path) -> None:
    outcome = _run(tmp_path)
    with (outcome.out_dir / "denials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["code"] for r in rows] == [code for _, code in EXPECTED_DENIALS]
    proc = subprocess.run(
        [sys.executable, "-m", "tradeloop", "backtest", str(tmp_path / "flipper.py"),
         "--data", str(tmp_path / "CRAFT.csv"), "--risk", str(tmp_path / "risk.toml"),
         "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, check=False, env=None,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Orders denied by the risk gate: 10" in proc.stdout
    assert "TRADES_PER_DAY 4" in proc.stdout and "TRADING_STATE 6" in proc.stdout


def test_a_misspelt_risk_key_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "flipper.py").write_text(STRATEGY)
    crafted_bars(tmp_path / "CRAFT.csv")
    (tmp_path / "risk.toml").write_text("[risk]\ndaily_los_limit = 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tradeloop", "backtest", str(tmp_path / "flipper.py"),
         "--data", str(tmp_path / "CRAFT.csv"), "--risk", str(tmp_path / "risk.toml"),
         "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "risk.daily_los_limit: unknown key; did you mean 'daily_loss_limit'?" in proc.stderr
