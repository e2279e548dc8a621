"""``tradeloop data download --venue polygon`` and ``download_data`` against the local Polygon.

The download service routes ``polygon`` to :func:`tradeloop.data.sources.polygon.polygon_history`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.polygon import API_KEY, PolygonServer, local_settings, utc_ns
from tradeloop.data.download import DownloadResult
from tradeloop.data.store import DataStore
from tradeloop.services.data import download_data


def _download(server: PolygonServer, store: DataStore, start: str, end: str
              ) -> DownloadResult:
    return download_data("polygon", "AAPL", "1m", start, end,
                         settings=local_settings(server), store=store)


def test_download_data_stores_validated_bars_and_resumes(polygon: PolygonServer,
                                                         tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    first = _download(polygon, store, "2024-04-01", "2024-04-02")
    assert first.venue == "POLYGON" and first.added > 0
    again = _download(polygon, store, "2024-04-01", "2024-04-02")
    assert again.fetched == again.added == 0  # only the untraded edges are asked again
    longer = _download(polygon, store, "2024-04-01", "2024-04-03")
    assert longer.ranges[-1][1] == utc_ns("2024-04-03") and longer.added > 0
    bars = store.read_bars("AAPL", "1m", venue="POLYGON")
    assert len(bars) == first.added + longer.added
    assert store.inspect("AAPL", "1m", venue="POLYGON").rows == len(bars)


def _cli(home: Path, *args: str, key: str = API_KEY) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="200", POLYGON_API_KEY=key)
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=env, timeout=120)


def test_the_download_command_works_for_polygon(polygon: PolygonServer,
                                                tmp_path: Path) -> None:
    settings = tmp_path / "polygon.toml"
    settings.write_text(f'base_url = "{polygon.base_url}"\nrequests_per_minute = 0\n')
    common = ("data", "download", "--venue", "polygon", "--symbol", "X:BTCUSD",
              "--timeframe", "1m", "--settings", str(settings))
    first = _cli(tmp_path, *common, "--from", "2024-04-01", "--to", "2024-04-02")
    assert first.returncode == 0, first.stderr
    assert "1,440 bars downloaded" in first.stdout and "1,440 added" in first.stdout
    stored = DataStore(tmp_path / "store").read_bars("X:BTCUSD", "1m", venue="POLYGON")
    assert len(stored) == 1440

    refused = _cli(tmp_path, *common, "--from", "2024-04-02", "--to", "2024-04-03",
                   key="pk_wrong_key_81Hq")
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "polygon refused the API key in $POLYGON_API_KEY" in lines[0]
    assert "pk_wrong_key_81Hq" not in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr


def test_the_download_command_fetches_trades_for_polygon(polygon: PolygonServer,
                                                         tmp_path: Path) -> None:
    settings = tmp_path / "polygon.toml"
    settings.write_text(f'base_url = "{polygon.base_url}"\nrequests_per_minute = 0\n')
    common = ("data", "download", "--venue", "polygon", "--symbol", "AAPL", "--kind",
              "trades", "--settings", str(settings), "--from", "2024-04-01 13:30",
              "--to", "2024-04-01 14:00")
    first = _cli(tmp_path, *common)
    assert first.returncode == 0, first.stderr
    assert "POLYGON/AAPL trades:" in first.stdout and " added" in first.stdout
    again = _cli(tmp_path, *common)
    assert again.returncode == 0, again.stderr
    assert "already stored" in again.stdout
    wrong = _cli(tmp_path, "data", "download", "--venue", "ccxt:binance", "--symbol", "BTC/USDT",
                 "--kind", "trades", "--from", "2024-04-01")
    assert wrong.returncode != 0
    assert "only polygon serves trades" in wrong.stderr and "Traceback" not in wrong.stderr
