"""Paper trading is the backtest on a real kernel loop: a paper session of ``sma_cross``
replaying the bundled EURUSD data gives exactly the backtest's orders and fills, and
``tradeloop replay`` says so. Run end to end through the command line, in an isolated home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tradeloop.data import bundled_path
from tradeloop.persistence import AuditStore, open_database


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=env, timeout=300)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "paper"
name = "eurusd-paper"
[account]
cash = "100000"
[data]
source = "replay"
files = ["{bundled_path("EURUSD")}"]
speed = 0
[logging]
level = "WARNING"
[[strategies]]
strategy = "sma_cross"
''', encoding="utf-8")
    return path


def test_a_paper_replay_equals_the_backtest_order_for_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paper = _cli(home, "paper", str(_config(tmp_path)))
    assert paper.returncode == 0, paper.stderr
    assert "5,000 market data items, 166 orders, 166 fills" in paper.stdout
    run_id = re.search(r"run (\S+): tradeloop replay", paper.stdout).group(1)  # type: ignore[union-attr]

    replay = _cli(home, "replay", run_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "166 orders and 166 fills; backtest: 166 orders and 166 fills" in replay.stdout
    assert "no difference" in replay.stdout

    # the audit database holds every intent and fill of the run
    store = AuditStore(open_database(None, home))
    assert len(store.orders(run_id=run_id)) == 166
    assert len(store.fills(run_id=run_id)) == 166

    backtest = _cli(home, "backtest", "sma_cross", "--data", "EURUSD", "--out",
                    str(tmp_path / "bt"))
    assert "100,000.0705" in backtest.stdout
    assert "balance 100,000.07" in paper.stdout


def test_running_the_same_node_again_sends_nothing_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = _config(tmp_path)
    first = _cli(home, "paper", str(config))
    assert first.returncode == 0, first.stderr
    second = _cli(home, "paper", str(config))
    assert second.returncode == 0, second.stderr
    assert "strategy failure" not in second.stdout
    venue_state = home / "paper" / "eurusd-paper.venue.db"
    import sqlite3

    with sqlite3.connect(venue_state) as db:
        (orders,) = db.execute("select count(*) from orders").fetchone()
    assert orders == 166  # the replayed intents derived the same ids: the venue has each once
