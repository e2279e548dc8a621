"""``tradeloop data download --venue ctrader``: trendbars from the local proxy into the data
store, validated, split into the spans cTrader allows per period and paged where it answers
``hasMore``; a second run fetches only what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from support.ctrader import CtraderServer, adapter_settings
from tradeloop.brokers.ctrader.messages import PT, TRENDBAR_MAX_SPAN_MS, TrendbarPeriod
from tradeloop.core.errors import ConfigError
from tradeloop.data.store import DataStore
from tradeloop.services.data import download_data

_DAY_NS = 86_400 * 10**9
_MINUTE_NS = 60 * 10**9


def _days_ago(days: int) -> datetime:
    midnight = time.time_ns() // _DAY_NS * _DAY_NS
    return datetime.fromtimestamp((midnight - days * _DAY_NS) / 1e9, UTC)


def test_minute_bars_of_five_days_arrive_whole_in_the_store(proxy: CtraderServer,
                                                           tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    start, end = _days_ago(6), _days_ago(1)
    result = download_data("ctrader", "EURUSD", "1m", start, end,
                           settings=adapter_settings(proxy), store=store)
    assert (result.venue, result.fetched, result.added) == ("CTRADER", 7200, 7200)
    bars = store.read_bars("EURUSD", "1m", venue="CTRADER")
    assert len(bars) == 7200
    assert bars.ts[0] == int(start.timestamp()) * 10**9
    assert set(np.diff(bars.ts).tolist()) == {_MINUTE_NS}
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    asked = proxy.requests(PT.GET_TRENDBARS_REQ)
    limit = TRENDBAR_MAX_SPAN_MS[TrendbarPeriod.M1]
    assert all(r.body["toTimestamp"] - r.body["fromTimestamp"] <= limit for r in asked)
    # two spans of 3.5 and 1.5 days; the first (5040 bars) answered with the newest 4000 and
    # hasMore, so its oldest part is asked again
    assert len(asked) == 3
    assert asked[1].body["fromTimestamp"] == asked[0].body["fromTimestamp"]
    assert asked[1].body["toTimestamp"] < asked[0].body["toTimestamp"]

    again = download_data("ctrader", "EURUSD", "1m", start, end,
                          settings=adapter_settings(proxy), store=store)
    assert again.up_to_date and len(proxy.requests(PT.GET_TRENDBARS_REQ)) == len(asked)


def test_hourly_bars_and_an_unknown_symbol_or_timeframe(proxy: CtraderServer,
                                                        tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    result = download_data("ctrader", "USDJPY", "1h", _days_ago(10), _days_ago(2),
                           settings=adapter_settings(proxy), store=store)
    assert result.added == 8 * 24
    bars = store.read_bars("USDJPY", "1h", venue="CTRADER")
    assert 140 < float(bars.close.mean()) < 160  # yen prices, three decimals
    assert len(proxy.requests(PT.GET_TRENDBARS_REQ)) == 1
    with pytest.raises(ConfigError, match="does not list 'EURUSX' for this account; did you "
                                          "mean 'EURUSD'"):
        download_data("ctrader", "EURUSX", "1m", _days_ago(2), _days_ago(1),
                      settings=adapter_settings(proxy), store=store)
    with pytest.raises(ConfigError, match="cTrader's trendbars are 1m, 2m"):
        download_data("ctrader", "EURUSD", "7m", _days_ago(2), _days_ago(1),
                      settings=adapter_settings(proxy), store=store)


def test_the_download_command(proxy: CtraderServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = adapter_settings(proxy)
    lines = ["[broker]", 'name = "ctrader"', "[broker.settings]"]
    for key, value in settings.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    (tmp_path / "ctrader.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="200")
    start, end = _days_ago(3), _days_ago(2)
    run = subprocess.run(
        [sys.executable, "-m", "tradeloop", "data", "download", "--venue", "ctrader",
         "--symbol", "GBPUSD", "--timeframe", "15m", "--from", start.isoformat(), "--to",
         end.isoformat(), "--settings", str(tmp_path / "ctrader.toml")],
        capture_output=True, text=True, check=False, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "96 bars downloaded" in run.stdout and "96 added" in run.stdout
    assert len(DataStore(home / "store").read_bars("GBPUSD", "15m", venue="CTRADER")) == 96
