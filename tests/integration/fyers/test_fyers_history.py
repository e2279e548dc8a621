"""Fyers history and streams: candle ranges split as Fyers allows per resolution,
``tradeloop data download`` writing validated bars into the store, and streamed quotes and
trades becoming a node's bars and trade ticks."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.fyers import FyersServer
from tradeloop.brokers.fyers import create_adapter
from tradeloop.brokers.market import BrokerMarketData
from tradeloop.core.errors import ConfigError
from tradeloop.data.store import DataStore
from tradeloop.model.data import Bar, BarSeries, QuoteTick, TradeTick
from tradeloop.services.data import download_data

SYMBOL = "NSE:SBIN-EQ"
DAY_S = 86_400
NS = 10**9


def _bars(settings: dict[str, Any], home: Path, timeframe: str, start: int, end: int
          ) -> BarSeries:
    async def run() -> BarSeries:
        adapter = create_adapter(settings, variant="", home=home)
        assert adapter.market_data is not None
        await adapter.market_data.connect()
        try:
            return await adapter.market_data.historical_bars(SYMBOL, timeframe, start, end)
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_minute_candles_over_250_days_take_three_requests_of_at_most_100_days(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    end = (int(time.time()) // DAY_S - 1) * DAY_S
    start = end - 250 * DAY_S
    bars = _bars(settings, home, "15m", start * NS, end * NS)
    spans = [(first, last) for symbol, resolution, first, last in fyers.history.requests
             if resolution == "15"]
    assert len(spans) == 3
    assert all(last - first < 100 * DAY_S for first, last in spans)
    assert spans[0][0] == start and spans[-1][1] == end - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))  # no gap
    ts = bars.ts.tolist()
    assert len(ts) > 150 * 25 and ts == sorted(set(ts)) and ts[0] >= start * NS
    assert ts[-1] < end * NS and bars.timeframe_ns == 15 * 60 * NS
    assert (bars.low <= bars.open).all() and (bars.high >= bars.close).all()


def test_daily_candles_are_asked_366_days_at_a_time(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    end = (int(time.time()) // DAY_S - 1) * DAY_S
    bars = _bars(settings, home, "1d", (end - 800 * DAY_S) * NS, end * NS)
    spans = [(f, t) for _, resolution, f, t in fyers.history.requests if resolution == "D"]
    assert len(spans) == 3 and all(t - f < 366 * DAY_S for f, t in spans)
    days = [dt.datetime.fromtimestamp(t // NS, dt.UTC).weekday() for t in bars.ts.tolist()]
    assert 500 < len(days) < 600 and max(days) < 5  # trading days only


def test_second_candles_are_asked_30_days_at_a_time(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    end = int(time.time()) // 60 * 60
    bars = _bars(settings, home, "30s", (end - 40 * DAY_S) * NS, (end - 39 * DAY_S) * NS)
    spans = [(f, t) for _, resolution, f, t in fyers.history.requests if resolution == "30S"]
    assert len(spans) == 1 and bars.timeframe_ns == 30 * NS
    _bars(settings, home, "30s", (end - 44 * DAY_S) * NS, end * NS)
    spans = [(f, t) for _, resolution, f, t in fyers.history.requests if resolution == "30S"]
    assert len(spans) == 3 and all(t - f < 30 * DAY_S for f, t in spans)


def test_a_bar_length_fyers_lacks_is_refused_with_the_ones_it_has(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    with pytest.raises(ConfigError, match=r"Fyers has no 7m candles \(it has 5s, .*1h.*1d\)"):
        _bars(settings, home, "7m", 0, NS)
    assert fyers.history.requests == []


def test_data_download_writes_validated_bars_into_the_store(
        fyers: FyersServer, settings: dict[str, Any], logged_in: None, tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=10)
    result = download_data("fyers", SYMBOL, "5m", start, end, settings=settings, store=store)
    assert result.fetched > 0 and result.added == result.fetched
    stored = store.read_bars(SYMBOL, "5m", venue="FYERS")
    assert len(stored) == result.fetched
    assert stored.ts.tolist() == sorted(set(stored.ts.tolist()))
    assert stored.ts[0] >= int(start.timestamp()) * NS and stored.ts[-1] < int(
        end.timestamp()) * NS
    assert np.isfinite(stored.close).all() and (stored.low <= stored.high).all()
    # a second run finds everything stored and fetches nothing
    before = len(fyers.history.requests)
    again = download_data("fyers", SYMBOL, "5m", start, end, settings=settings, store=store)
    assert (again.fetched, again.added, again.replaced) == (0, 0, 0)
    assert len(fyers.history.requests) <= before + 2  # at most the empty edges, asked again


def test_streamed_quotes_become_the_nodes_bars(fyers: FyersServer, settings: dict[str, Any],
                                               home: Path, logged_in: None) -> None:
    async def run() -> list[Bar]:
        adapter = create_adapter(settings, variant="", home=home)
        assert adapter.market_data is not None
        source = BrokerMarketData(adapter.market_data, [f"{SYMBOL}@1s"], "fyers")
        await source.start()
        bars: list[Bar] = []

        async def move() -> None:
            for k in range(40):
                bid = Decimal("800.00") + k * Decimal("0.05")
                fyers.set_price(SYMBOL, bid, bid + Decimal("0.10"))
                await asyncio.sleep(0.1)

        mover = asyncio.get_running_loop().create_task(move())
        try:
            async for item in source:
                if isinstance(item, Bar):
                    bars.append(item)
                if len(bars) >= 2:
                    break
        finally:
            mover.cancel()
            await source.stop()
            await adapter.close()
        return bars

    bars = asyncio.run(asyncio.wait_for(run(), 30))
    assert [b.symbol for b in bars] == [SYMBOL, SYMBOL] and bars[0].ts < bars[1].ts
    assert all(b.low <= b.open <= b.high and b.low <= b.close <= b.high for b in bars)
    assert all(b.low >= 800.0 and b.high <= 802.1 for b in bars)  # mid prices of the quotes


def test_fills_reach_the_trade_stream(fyers: FyersServer, settings: dict[str, Any],
                                      home: Path, logged_in: None) -> None:
    async def run() -> tuple[list[QuoteTick], list[TradeTick]]:
        adapter = create_adapter(settings, variant="", home=home)
        market = adapter.market_data
        assert market is not None
        await market.connect()
        await market.subscribe_trades(SYMBOL)
        await market.subscribe_quotes(SYMBOL)
        stream = market.stream()
        quotes: list[QuoteTick] = []
        trades: list[TradeTick] = []
        with fyers.locked():
            fyers.book.place({"symbol": SYMBOL, "qty": 7, "type": 2, "side": 1,
                              "productType": "INTRADAY", "validity": "DAY"})
            fyers.set_price(SYMBOL, "800.00", "800.10")
        try:
            while not trades:
                item = await anext(stream)
                (trades if isinstance(item, TradeTick) else quotes).append(item)  # type: ignore[arg-type]
        finally:
            await adapter.close()
        return quotes, trades

    quotes, trades = asyncio.run(asyncio.wait_for(run(), 20))
    assert [(t.price, t.size) for t in trades] == [(800.05, 7.0)]
    assert quotes and quotes[0].bid == 799.95 and quotes[0].ask == 800.05
    assert np.all(np.diff([q.ts for q in quotes]) >= 0)
