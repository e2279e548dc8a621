"""Alpaca's historical bars through the adapter, against the local Alpaca: pages followed by
``next_page_token`` (stocks on ``/v2``, crypto on ``/v1beta3``), bar lengths Alpaca has and
has not, and ``tradeloop data download --venue alpaca`` writing validated bars into the store,
a rerun fetching only what is missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import alpaca_harness as h
import numpy as np
import pytest

from support.alpaca import AlpacaServer
from tradeloop.core.errors import ConfigError
from tradeloop.data.store import DataStore
from tradeloop.model.data import BarSeries
from tradeloop.services.data import download_data

_MINUTE_NS = 60 * 10**9
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)  # a full session: 14:30 to 21:00 UTC
WEDNESDAY = datetime(2024, 3, 6, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _history(server: AlpacaServer, tmp: Path, symbol: str, timeframe: str, start: datetime,
             end: datetime) -> BarSeries:
    async def fetch() -> BarSeries:
        adapter = h.adapter(server, tmp)
        assert adapter.market_data is not None
        await adapter.market_data.connect()
        try:
            return await adapter.market_data.historical_bars(symbol, timeframe, _ns(start),
                                                             _ns(end))
        finally:
            await adapter.close()

    return asyncio.run(fetch())


def test_crypto_minute_bars_come_page_by_page(alpaca: AlpacaServer, tmp_path: Path) -> None:
    alpaca.set_page_limit(100)
    bars = _history(alpaca, tmp_path, "BTC/USD", "1m", MONDAY, datetime(2024, 3, 5, tzinfo=UTC))
    assert len(bars) == 1440 and bars.ts[0] == _ns(MONDAY)
    assert set(np.diff(bars.ts).tolist()) == {_MINUTE_NS}
    pages = alpaca.requests("/v1beta3/crypto/us/bars")
    assert len(pages) == 15  # 100 bars a page (the end is inclusive at Alpaca: 1441 asked)
    assert "page_token" not in pages[0].params
    assert all(p.params.get("page_token") for p in pages[1:])
    assert all(p.params["timeframe"] == "1Min" and p.params["symbols"] == "BTC/USD"
               for p in pages)
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()


def test_stock_bars_cover_the_sessions_in_the_range(alpaca: AlpacaServer,
                                                    tmp_path: Path) -> None:
    alpaca.set_page_limit(250)
    bars = _history(alpaca, tmp_path, "AAPL", "1m", MONDAY, WEDNESDAY)
    assert len(bars) == 2 * 390
    assert bars.ts[0] == _ns(datetime(2024, 3, 4, 14, 30, tzinfo=UTC))
    assert bars.ts[-1] == _ns(datetime(2024, 3, 5, 20, 59, tzinfo=UTC))
    pages = alpaca.requests("/v2/stocks/bars")
    assert len(pages) == 4 and pages[0].params["feed"] == "iex"
    assert pages[0].params["adjustment"] == "raw"


def test_longer_bars_and_lengths_alpaca_lacks(alpaca: AlpacaServer, tmp_path: Path) -> None:
    hours = _history(alpaca, tmp_path, "BTC/USD", "1h", MONDAY, WEDNESDAY)
    assert len(hours) == 48 and set(np.diff(hours.ts).tolist()) == {3600 * 10**9}
    assert alpaca.requests("/v1beta3/crypto/us/bars")[0].params["timeframe"] == "1Hour"
    days = _history(alpaca, tmp_path, "BTC/USD", "1d", MONDAY, WEDNESDAY)
    assert days.ts.tolist() == [_ns(MONDAY), _ns(datetime(2024, 3, 5, tzinfo=UTC))]
    with pytest.raises(ConfigError, match="Alpaca has no 90s bars"):
        _history(alpaca, tmp_path, "BTC/USD", "90s", MONDAY, WEDNESDAY)


def test_download_writes_validated_bars_and_a_rerun_adds_nothing(alpaca: AlpacaServer,
                                                                 tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    settings = h.settings(alpaca)
    result = download_data("alpaca", "AAPL", "1m", MONDAY, WEDNESDAY, settings=settings,
                           store=store)
    assert (result.venue, result.fetched, result.added) == ("ALPACA", 780, 780)
    stored = store.read_bars("AAPL", "1m", venue="ALPACA")
    assert len(stored) == 780 and stored.ts[0] == _ns(datetime(2024, 3, 4, 14, 30,
                                                               tzinfo=UTC))
    again = download_data("alpaca", "AAPL", "1m", MONDAY, WEDNESDAY, settings=settings,
                          store=store)
    assert again.added == 0 and again.replaced == 0
    assert len(store.read_bars("AAPL", "1m", venue="ALPACA")) == 780
    with pytest.raises(ConfigError, match="Alpaca does not list 'AAPX'; did you mean 'AAPL'"):
        download_data("alpaca", "AAPX", "1m", MONDAY, WEDNESDAY, settings=settings,
                      store=store)


def test_the_download_command(alpaca: AlpacaServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = home / "alpaca.toml"
    lines = ["[broker]", "name = \"alpaca\"", "[broker.settings]"]
    for key, value in h.settings(alpaca).items():
        lines.append(f"{key} = {_toml(value)}")
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "tradeloop", "data", "download", "--venue", "alpaca",
         "--symbol", "BTC/USD", "--timeframe", "1m", "--from", "2024-03-04T00:00",
         "--to", "2024-03-04T06:00", "--settings", str(settings)],
        capture_output=True, text=True, check=False, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "360 bars downloaded" in done.stdout and "360 added" in done.stdout
    stored = DataStore(home / "store").read_bars("BTC/USD", "1m", venue="ALPACA")
    assert len(stored) == 360 and stored.ts[0] == _ns(MONDAY)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"\"{value}\""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
