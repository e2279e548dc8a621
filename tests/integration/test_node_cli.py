"""The node commands around a paper node: doctor, a manual order through the node's path,
status, and live refusing clearly without a broker adapter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tradeloop.data import bundled_path


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=env, timeout=300)


def _config(tmp_path: Path, mode: str = "paper") -> Path:
    path = tmp_path / "node.toml"
    broker = '[broker]\nname = "mt5"\n' if mode == "live" else ""
    source = "broker" if mode == "live" else "replay"
    files = "" if mode == "live" else f'files = ["{bundled_path("EURUSD")}"]'
    account = "" if mode == "live" else '[account]\ncash = "100000"\n'
    path.write_text(f'''
mode = "{mode}"
name = "manual-node"
{account}
[data]
source = "{source}"
{files}
{broker}
[logging]
level = "WARNING"
[[strategies]]
strategy = "sma_cross"
symbols = ["EURUSD"]
''', encoding="utf-8")
    return path


def test_doctor_manual_order_and_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = _config(tmp_path)
    doctor = _cli(home, "doctor", str(config))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for name in ("config", "database", "instruments", "strategies", "venue"):
        assert f"ok   {name}:" in doctor.stdout
    placed = _cli(home, "order", "buy", "EURUSD", "1000", "--limit", "1.05", "--config",
                  str(config))
    assert placed.returncode == 0, placed.stderr
    assert placed.stdout.startswith("MANUAL-") and "ACCEPTED" in placed.stdout
    status = _cli(home, "status")
    assert "1 open order(s)" in status.stdout
    assert "BUY 1000 EURUSD LIMIT ACCEPTED" in status.stdout
    unknown = _cli(home, "order", "sell", "XAUUSD", "1", "--config", str(config))
    assert unknown.returncode == 2
    assert "unknown symbol 'XAUUSD' for this node (it trades EURUSD)" in unknown.stderr


def test_live_with_an_adapter_that_does_not_exist_refuses_clearly(tmp_path: Path) -> None:
    config = _config(tmp_path, "live")
    config.write_text(config.read_text().replace('name = "mt5"', 'name = "mt4"'))
    live = _cli(tmp_path / "home", "live", str(config))
    assert live.returncode == 2
    assert "broker.name: unknown adapter 'mt4'" in live.stderr
    assert "Traceback" not in live.stderr
