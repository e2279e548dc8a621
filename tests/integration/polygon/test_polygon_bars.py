"""Polygon bars into the store through ``download_bars``, against the local Polygon."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from support.polygon import API_KEY, PolygonServer, Split, local_settings, utc_ns
from tradeloop.core.errors import ConfigError, DataError, RetryableVenueError
from tradeloop.data.download import DownloadResult, download_bars
from tradeloop.data.sources.polygon import PolygonHistory, polygon_history
from tradeloop.data.sources.polygon_settings import load_settings
from tradeloop.data.store import DataStore
from tradeloop.model.data import BarSeries

MS = 1_000_000
MINUTE_NS = 60_000_000_000
DAY_NS = 86_400_000_000_000


def download(server: PolygonServer, store: DataStore, symbol: str, timeframe: str,
             start: str, end: str, **settings: Any) -> DownloadResult:
    async def main() -> DownloadResult:
        async with polygon_history(local_settings(server, **settings)) as source:
            return await download_bars(source, store, symbol, timeframe, utc_ns(start),
                                       utc_ns(end), venue=source.venue,
                                       chunk_bars=source.chunk_bars)

    return asyncio.run(main())


def polygon_answer(server: PolygonServer, ticker: str, multiplier: int, timespan: str,
                   start: str, end: str) -> list[dict[str, Any]]:
    """The stand-in's aggregates for a range, fetched directly (all pages)."""
    url = (f"{server.base_url}/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/"
           f"{utc_ns(start) // MS}/{utc_ns(end) // MS - 1}?limit=50000")
    rows: list[dict[str, Any]] = []
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        while url:
            body = client.get(url).json()
            rows += body.get("results", [])
            url = body.get("next_url")
    return rows


def assert_valid(bars: BarSeries) -> None:
    assert np.all(np.diff(bars.ts) > 0)
    assert np.all(bars.high >= bars.low)
    assert np.all((bars.open >= bars.low) & (bars.open <= bars.high))
    assert np.all((bars.close >= bars.low) & (bars.close <= bars.high))
    assert np.all(bars.volume >= 0) and np.all(bars.low > 0)


def test_minute_bars_are_stored_as_polygon_sent_them(polygon: PolygonServer,
                                                     tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    result = download(polygon, store, "AAPL", "1m", "2024-03-25", "2024-04-03")
    sent = polygon_answer(polygon, "AAPL", 1, "minute", "2024-03-25", "2024-04-03")
    bars = store.read_bars("AAPL", "1m", venue="POLYGON")
    assert result.fetched == result.added == len(sent) == len(bars) > 3000
    assert bars.ts.tolist() == [row["t"] * MS for row in sent]
    for field, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"),
                       ("volume", "v")):
        assert getattr(bars, field).tolist() == [row[key] for row in sent]
    assert_valid(bars)
    days = {int(t) // DAY_NS for t in bars.ts}
    assert utc_ns("2024-03-29") // DAY_NS not in days  # Good Friday: the exchange was shut
    assert utc_ns("2024-03-30") // DAY_NS not in days  # a weekend
    assert store.inspect("AAPL", "1m", venue="POLYGON").gap_count > 0  # nights stay gaps


@pytest.mark.parametrize(("symbol", "timeframe"), [
    ("AAPL", "1d"), ("BRK.B", "15m"), ("O:SPY251219C00650000", "5m"), ("C:EURUSD", "1h"),
    ("X:BTCUSD", "1h"), ("X:ETHUSD", "1d"),
])
def test_every_asset_class_downloads_into_the_store(polygon: PolygonServer, tmp_path: Path,
                                                    symbol: str, timeframe: str) -> None:
    store = DataStore(tmp_path)
    result = download(polygon, store, symbol, timeframe, "2024-03-25", "2024-04-08")
    entry = store.inspect(symbol, timeframe, venue="POLYGON")
    bars = store.read_bars(symbol, timeframe, venue="POLYGON")
    assert result.added == entry.rows == len(bars) > 0
    assert entry.timeframe == timeframe
    assert bars.ts[0] >= utc_ns("2024-03-25") and bars.ts[-1] < utc_ns("2024-04-08")
    assert_valid(bars)


def test_daily_stock_bars_are_labelled_by_their_trading_day(polygon: PolygonServer,
                                                            tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    download(polygon, store, "AAPL", "1d", "2024-03-25", "2024-04-03")
    bars = store.read_bars("AAPL", "1d", venue="POLYGON")
    days = ["2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28", "2024-04-01", "2024-04-02"]
    assert bars.ts.tolist() == [utc_ns(d) for d in days]
    entry = store.inspect("AAPL", "1d", venue="POLYGON")
    assert [(g.start_ns, g.end_ns, g.missing_bars) for g in entry.gaps] == [
        (utc_ns("2024-03-28"), utc_ns("2024-04-01"), 1)]  # Good Friday, not the weekend


def test_crypto_daily_bars_keep_utc_midnight(polygon: PolygonServer, tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    download(polygon, store, "X:BTCUSD", "1d", "2024-03-25", "2024-04-01")
    bars = store.read_bars("X:BTCUSD", "1d", venue="POLYGON")
    assert bars.ts.tolist() == [utc_ns("2024-03-25") + k * DAY_NS for k in range(7)]


def test_fx_weekend_close_is_not_a_gap(polygon: PolygonServer, tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    download(polygon, store, "C:EURUSD", "1h", "2024-03-25", "2024-04-08")
    bars = store.read_bars("C:EURUSD", "1h", venue="POLYGON")
    closed = (bars.ts >= utc_ns("2024-03-29T21:00")) & (bars.ts < utc_ns("2024-03-31T21:00"))
    assert not closed.any()
    assert store.inspect("C:EURUSD", "1h", venue="POLYGON").gap_count == 0


def test_long_answers_are_paged_through_next_url(polygon: PolygonServer,
                                                 tmp_path: Path) -> None:
    polygon.page_size = 400
    store = DataStore(tmp_path)
    result = download(polygon, store, "AAPL", "1m", "2024-04-01", "2024-04-06")
    aggs = polygon.requests("/v2/aggs")
    assert len(aggs) == -(-result.fetched // 400) > 3
    assert all("cursor" in r.params for r in aggs[1:])
    assert all(r.auth == "header" and "apiKey" not in r.params for r in aggs)
    polygon.page_size = None
    whole = polygon_answer(polygon, "AAPL", 1, "minute", "2024-04-01", "2024-04-06")
    assert store.read_bars("AAPL", "1m", venue="POLYGON").ts.tolist() == [
        r["t"] * MS for r in whole]


def test_adjusted_setting_reaches_polygon(polygon: PolygonServer, tmp_path: Path) -> None:
    polygon.market.splits["AAPL"] = Split(utc_ns("2024-03-28") // MS, 4.0)
    adjusted, raw = DataStore(tmp_path / "a"), DataStore(tmp_path / "b")
    download(polygon, adjusted, "AAPL", "1d", "2024-03-25", "2024-04-03")
    download(polygon, raw, "AAPL", "1d", "2024-03-25", "2024-04-03", adjusted=False)
    assert [r.params["adjusted"] for r in polygon.requests("/v2/aggs")] == ["true", "false"]
    a = adjusted.read_bars("AAPL", "1d", venue="POLYGON").close
    b = raw.read_bars("AAPL", "1d", venue="POLYGON").close
    assert np.allclose(b[:3], 4 * a[:3]) and np.allclose(b[3:], a[3:])


def test_interrupted_download_resumes_where_it_stopped(polygon: PolygonServer,
                                                       tmp_path: Path) -> None:
    store = DataStore(tmp_path / "resumed")
    polygon.fail_next("unavailable", path_prefix="/v2/aggs", after=2)
    with pytest.raises(RetryableVenueError, match="HTTP 502"):
        download(polygon, store, "X:BTCUSD", "1m", "2024-04-01", "2024-04-08",
                 chunk_bars=1440, max_retries=0)
    kept = store.read_bars("X:BTCUSD", "1m", venue="POLYGON")
    assert len(kept) == 2 * 1440 and kept.ts[-1] == utc_ns("2024-04-03") - MINUTE_NS
    polygon.clear_log()
    result = download(polygon, store, "X:BTCUSD", "1m", "2024-04-01", "2024-04-08",
                      chunk_bars=1440, max_retries=0)
    assert result.ranges == [(utc_ns("2024-04-03"), utc_ns("2024-04-08"))]
    first = polygon.requests("/v2/aggs")[0].path
    assert first.split("/")[-2] == str(utc_ns("2024-04-03") // MS)
    clean = DataStore(tmp_path / "clean")
    download(polygon, clean, "X:BTCUSD", "1m", "2024-04-01", "2024-04-08")
    again = store.read_bars("X:BTCUSD", "1m", venue="POLYGON")
    whole = clean.read_bars("X:BTCUSD", "1m", venue="POLYGON")
    assert len(again) == 7 * 1440
    assert again.ts.tolist() == whole.ts.tolist() and again.close.tolist() == \
        whole.close.tolist()


def test_a_bad_bar_stops_the_download_and_none_of_its_chunk_is_stored(
        polygon: PolygonServer, tmp_path: Path) -> None:
    bad = utc_ns("2024-04-02T10:00") // MS
    polygon.market.overrides[("X:BTCUSD", bad)] = {"h": 10.0, "l": 20.0}
    store = DataStore(tmp_path)
    with pytest.raises(DataError, match=r"polygon X:BTCUSD 1m bars 2024-04-02T00:00:00Z to "
                                        r"2024-04-03T00:00:00Z: row 601: high 10\.0 < low "
                                        r"20\.0"):
        download(polygon, store, "X:BTCUSD", "1m", "2024-04-01", "2024-04-04", chunk_bars=1440)
    kept = store.read_bars("X:BTCUSD", "1m", venue="POLYGON")
    assert kept.ts[-1] == utc_ns("2024-04-02") - MINUTE_NS  # the first day only


def test_repair_drops_a_bad_bar_and_says_so(polygon: PolygonServer, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    bad = utc_ns("2024-04-02T10:00") // MS
    polygon.market.overrides[("X:BTCUSD", bad)] = {"c": None, "o": -5.0}
    store = DataStore(tmp_path)
    with caplog.at_level(logging.WARNING):
        result = download(polygon, store, "X:BTCUSD", "1m", "2024-04-01", "2024-04-04",
                          repair=True)
    bars = store.read_bars("X:BTCUSD", "1m", venue="POLYGON")
    assert result.added == len(bars) == 3 * 1440 - 1
    assert bad * MS not in set(bars.ts.tolist())
    assert "dropped 1 of 4320 rows (1 non finite value)" in caplog.text


def test_a_misspelt_ticker_is_named(polygon: PolygonServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="polygon does not know the ticker 'APPL'"):
        download(polygon, DataStore(tmp_path), "APPL", "1d", "2024-03-25", "2024-04-03")
    with pytest.raises(ConfigError, match="write 'C:EURUSD', for crypto 'X:EURUSD'"):
        download(polygon, DataStore(tmp_path), "EURUSD", "1d", "2024-03-25", "2024-04-03")


def test_a_plan_without_the_market_says_so(polygon: PolygonServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    polygon.add_key("pk_stocks_only_3Fq", {"stocks"})
    monkeypatch.setenv("POLYGON_API_KEY", "pk_stocks_only_3Fq")
    with pytest.raises(ConfigError, match=r"1h bars of X:BTCUSD: your plan does not include "
                                          r"this data: You are not entitled"):
        download(polygon, DataStore(tmp_path), "X:BTCUSD", "1h", "2024-03-25", "2024-04-03")
    assert download(polygon, DataStore(tmp_path), "AAPL", "1h", "2024-03-25",
                    "2024-04-03").added > 0


def test_the_bar_still_forming_is_left_out(polygon: PolygonServer) -> None:
    now_ms = utc_ns("2024-04-01T14:30:30") // MS
    polygon.now_ms_override = now_ms

    async def main() -> BarSeries:
        source = PolygonHistory(load_settings(local_settings(polygon)),
                                clock_ns=lambda: now_ms * MS)
        async with source:
            return await source.historical_bars("X:BTCUSD", "1m", utc_ns("2024-04-01T14:00"),
                                                utc_ns("2024-04-01T15:00"))

    bars = asyncio.run(main())
    sent = polygon_answer(polygon, "X:BTCUSD", 1, "minute", "2024-04-01T14:00",
                          "2024-04-01T15:00")
    assert sent[-1]["t"] == utc_ns("2024-04-01T14:30") // MS  # Polygon sends it...
    assert bars.ts[-1] == utc_ns("2024-04-01T14:29")  # ...and it is not stored yet
    assert len(bars) == 30
