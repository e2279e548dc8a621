"""Polygon trades into the store through ``download_trades``, against the local Polygon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from support.polygon import API_KEY, PolygonServer, local_settings, utc_ns
from tradeloop.core.errors import ConfigError, RetryableVenueError
from tradeloop.data.sources.polygon import TradeDownloadResult, download_trades, polygon_history
from tradeloop.data.store import DataStore
from tradeloop.model.data import TradeSeries

HOUR_NS = 3_600_000_000_000


def download(server: PolygonServer, store: DataStore, symbol: str, start: str, end: str,
             **settings: Any) -> TradeDownloadResult:
    async def main() -> TradeDownloadResult:
        async with polygon_history(local_settings(server, **settings)) as source:
            return await download_trades(source, store, symbol, utc_ns(start), utc_ns(end),
                                         venue=source.venue, chunk_ns=source.trades_chunk_ns)

    return asyncio.run(main())


def polygon_trades(server: PolygonServer, ticker: str, start: str, end: str
                   ) -> list[dict[str, Any]]:
    url = (f"{server.base_url}/v3/trades/{ticker}?timestamp.gte={utc_ns(start)}"
           f"&timestamp.lt={utc_ns(end)}&order=asc&limit=50000")
    rows: list[dict[str, Any]] = []
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        while url:
            body = client.get(url).json()
            rows += body["results"]
            url = body.get("next_url")
    return rows


def stored(store: DataStore, symbol: str) -> TradeSeries:
    ticks = store.read_ticks(symbol, "trade", venue="POLYGON")
    assert isinstance(ticks, TradeSeries)
    return ticks


@pytest.mark.parametrize(("symbol", "stamp"), [
    ("AAPL", "sip_timestamp"), ("O:SPY251219C00650000", "sip_timestamp"),
    ("X:BTCUSD", "participant_timestamp"),
])
def test_trades_are_stored_as_polygon_sent_them(polygon: PolygonServer, tmp_path: Path,
                                                symbol: str, stamp: str) -> None:
    store = DataStore(tmp_path)
    result = download(polygon, store, symbol, "2024-04-01T13:00", "2024-04-01T17:00",
                      trades_chunk_hours=1)
    sent = polygon_trades(polygon, symbol, "2024-04-01T13:00", "2024-04-01T17:00")
    trades = stored(store, symbol)
    assert result.fetched == result.added == len(sent) == len(trades) > 100
    assert len(polygon.requests("/v3/trades")) > 4  # one or more per hour
    assert trades.ts.tolist() == [row[stamp] for row in sent]
    assert trades.price.tolist() == [row["price"] for row in sent]
    assert trades.size.tolist() == [row["size"] for row in sent]
    assert np.all(np.diff(trades.ts) >= 0)


def test_trade_pages_are_followed(polygon: PolygonServer, tmp_path: Path) -> None:
    polygon.page_size = 50
    store = DataStore(tmp_path)
    result = download(polygon, store, "AAPL", "2024-04-01T13:30", "2024-04-01T15:30")
    pages = polygon.requests("/v3/trades")
    assert len(pages) == -(-result.fetched // 50) > 5
    assert all("cursor" in r.params and "timestamp.gte" not in r.params for r in pages[1:])
    polygon.page_size = None
    assert len(stored(store, "AAPL")) == len(polygon_trades(
        polygon, "AAPL", "2024-04-01T13:30", "2024-04-01T15:30"))


def test_an_interrupted_trades_download_resumes_without_doubles(polygon: PolygonServer,
                                                                tmp_path: Path) -> None:
    store = DataStore(tmp_path / "resumed")
    polygon.fail_next("drop", path_prefix="/v3/trades", after=2)
    with pytest.raises(RetryableVenueError, match="connection failed"):
        download(polygon, store, "X:BTCUSD", "2024-04-01T00:00", "2024-04-01T06:00",
                 trades_chunk_hours=1, max_retries=0)
    kept = stored(store, "X:BTCUSD")
    assert kept.ts[-1] < utc_ns("2024-04-01T02:00") <= kept.ts[-1] + HOUR_NS
    result = download(polygon, store, "X:BTCUSD", "2024-04-01T00:00", "2024-04-01T06:00",
                      trades_chunk_hours=1)
    # before the first stored trade (nothing there, but the store cannot know) and from the
    # last one on
    assert result.ranges == [(utc_ns("2024-04-01T00:00"), int(kept.ts[0])),
                             (int(kept.ts[-1]), utc_ns("2024-04-01T06:00"))]
    assert result.unchanged == 1  # the last stored trade came again and was kept once
    clean = DataStore(tmp_path / "clean")
    download(polygon, clean, "X:BTCUSD", "2024-04-01T00:00", "2024-04-01T06:00")
    again, whole = stored(store, "X:BTCUSD"), stored(clean, "X:BTCUSD")
    assert again.ts.tolist() == whole.ts.tolist()
    assert again.price.tolist() == whole.price.tolist()
    rerun = download(polygon, store, "X:BTCUSD", "2024-04-01T00:00", "2024-04-01T06:00")
    assert rerun.added == 0 and len(stored(store, "X:BTCUSD")) == len(whole)


def test_currency_pairs_have_no_trades(polygon: PolygonServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"polygon has no trades for currency pairs "
                                          r"\(C:EURUSD\); download its bars instead"):
        download(polygon, DataStore(tmp_path), "C:EURUSD", "2024-04-01", "2024-04-02")
    assert polygon.requests() == []
