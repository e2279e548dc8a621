"""Polygon answers into validated bar and trade series: labels, validation, completeness."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.data.sources.polygon import (
    PolygonHistory,
    bar_labels,
    bars_from_results,
    trades_from_results,
)
from tradeloop.data.sources.polygon_settings import load_settings, parse_ticker
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.model.data import BarSeries

MS = 1_000_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def bar(t: int, o: Any = 10.0, h: Any = 11.0, low: Any = 9.0, c: Any = 10.5,
        v: Any = 100.0) -> dict[str, Any]:
    return {"t": t, "o": o, "h": h, "l": low, "c": c, "v": v, "vw": 10.2, "n": 3}


def minute_bars(rows: list[dict[str, Any]], repair: bool = False) -> BarSeries:
    return bars_from_results(rows, parse_ticker("AAPL"), "AAPL", parse_timeframe("1m"),
                             "minute", "polygon AAPL 1m", repair=repair)


def test_daily_stock_bars_move_to_utc_midnight_of_their_new_york_day() -> None:
    winter = ms("2024-01-02T05:00")  # midnight in New York (EST)
    summer = ms("2024-07-01T04:00")  # midnight in New York (EDT)
    labels = bar_labels(np.array([winter, summer]), parse_ticker("AAPL"), "day")
    assert labels.tolist() == [ms("2024-01-02T00:00") * MS, ms("2024-07-01T00:00") * MS]
    options = bar_labels(np.array([summer]), parse_ticker("O:SPY251219C00650000"), "week")
    assert options.tolist() == [ms("2024-07-01T00:00") * MS]


def test_crypto_and_fx_daily_bars_and_all_intraday_bars_keep_their_time() -> None:
    midnight = ms("2024-07-01T00:00")
    assert bar_labels(np.array([midnight]), parse_ticker("X:BTCUSD"), "day").tolist() == [
        midnight * MS]
    assert bar_labels(np.array([midnight]), parse_ticker("C:EURUSD"), "day").tolist() == [
        midnight * MS]
    at = ms("2024-07-01T13:31")
    assert bar_labels(np.array([at]), parse_ticker("AAPL"), "minute").tolist() == [at * MS]


def test_a_clean_answer_becomes_a_series_of_the_asked_length() -> None:
    t0 = ms("2024-04-01T13:30")
    bars = minute_bars([bar(t0), bar(t0 + 60_000, v=None), bar(t0 + 180_000)])
    assert bars.ts.tolist() == [t0 * MS, (t0 + 60_000) * MS, (t0 + 180_000) * MS]
    assert bars.volume.tolist() == [100.0, 0.0, 100.0]  # a bar without volume has none
    assert bars.timeframe_ns == 60 * 10**9 and bars.source == "polygon AAPL 1m"


@pytest.mark.parametrize(("rows", "message"), [
    ([bar(0), bar(60_000, h=8.0)], "row 2: high 8.0 < low 9.0"),
    ([bar(0), bar(60_000, o="abc")], "row 2: open is not a number: 'abc'"),
    ([bar(0), bar(60_000, c=None)], "row 2: close is NaN"),
    ([bar(0), {"o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0}], "row 2: timestamp is missing"),
    ([bar(0), bar(0)], "row 2: duplicated timestamp 1970-01-01T00:00:00Z"),
    ([bar(60_000), bar(0)], "row 2: timestamp 1970-01-01T00:00:00Z is before the previous"),
    ([bar(0, low=-1.0)], "row 1: low -1.0 is not positive"),
    ([bar(0, v=-5)], "row 1: volume -5.0 is negative"),
])
def test_bad_bars_are_refused_naming_the_bar(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(DataError, match="^polygon AAPL 1m: " + message):
        minute_bars(rows)


def test_repair_drops_bad_bars_and_sorts() -> None:
    rows = [bar(120_000), bar(0), bar(60_000, h=1.0), bar(180_000, o="x")]
    bars = minute_bars(rows, repair=True)
    assert bars.ts.tolist() == [0, 120_000 * MS]


def crypto_trade(ts: int, price: Any = 100.0, size: Any = 0.5, ident: str = "1"
                 ) -> dict[str, Any]:
    return {"participant_timestamp": ts, "price": price, "size": size, "id": ident,
            "exchange": 1, "conditions": [1]}


def test_trades_use_the_sip_time_and_crypto_the_exchange_time() -> None:
    stock = trades_from_results([{"sip_timestamp": 5, "participant_timestamp": 3,
                                  "price": 10.0, "size": 100}], parse_ticker("AAPL"), "AAPL",
                                "src")
    crypto = trades_from_results([crypto_trade(3)], parse_ticker("X:BTCUSD"), "X:BTCUSD", "src")
    assert stock.ts.tolist() == [5] and crypto.ts.tolist() == [3]
    assert stock.size.tolist() == [100.0] and crypto.price.tolist() == [100.0]


@pytest.mark.parametrize(("rows", "message"), [
    ([crypto_trade(1), crypto_trade(2, price=0.0, ident="77")],
     "trade 2 (id 77): price 0.0 is not positive"),
    ([crypto_trade(1), crypto_trade(2, size=-1.0, ident="78")],
     "trade 2 (id 78): size -1.0 is negative"),
    ([crypto_trade(1, price="n/a", ident="79")], "trade 1 (id 79): price 'n/a' is not a number"),
    ([{"price": 1.0, "size": 1.0}], "trade 1: timestamp is missing"),
    ([crypto_trade(1_711_978_200_000_005_000), crypto_trade(1_711_978_200_000_004_000,
                                                           ident="80")],
     "trade 2 (id 80): timestamp 2024-04-01T13:30:00.000004Z is before the previous"),
])
def test_bad_trades_are_refused(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(DataError, match="^src: " + message.replace("(", r"\(").replace(
            ")", r"\)")):
        trades_from_results(rows, parse_ticker("X:BTCUSD"), "X:BTCUSD", "src")


def test_repair_drops_bad_trades_and_sorts_the_rest() -> None:
    rows = [crypto_trade(5), crypto_trade(4), crypto_trade(6, price=-1.0), crypto_trade(4)]
    trades = trades_from_results(rows, parse_ticker("X:BTCUSD"), "X:BTCUSD", "src",
                                 repair=True)
    assert trades.ts.tolist() == [4, 4, 5]


def source_for(handler: Any, now_ms: int, **settings: Any) -> PolygonHistory:
    config = load_settings({"requests_per_minute": 0, "base_url": "https://api.example.test"}
                           | settings, {"POLYGON_API_KEY": "pk_unit_parse_1"})
    return PolygonHistory(config, transport=httpx.MockTransport(handler),
                          clock_ns=lambda: now_ms * MS)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_history_asks_for_the_range_and_keeps_complete_bars_inside_it() -> None:
    t0 = ms("2024-04-01T14:00")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        rows = [bar(t0 - 60_000), bar(t0), bar(t0 + 60_000), bar(t0 + 120_000)]
        return httpx.Response(200, content=json.dumps({"status": "OK", "results": rows}))

    source = source_for(handler, now_ms=t0 + 150_000)  # the 14:02 bar is still forming

    async def main() -> BarSeries:
        async with source:
            return await source.historical_bars("AAPL", "1m", t0 * MS, (t0 + 600_000) * MS)

    bars = run(main())
    assert bars.ts.tolist() == [t0 * MS, (t0 + 60_000) * MS]
    assert seen[0].url.path == f"/v2/aggs/ticker/AAPL/range/1/minute/{t0}/{t0 + 599_999}"
    assert dict(seen[0].url.params) == {"adjusted": "true", "sort": "asc", "limit": "50000"}


def test_an_empty_answer_checks_the_ticker_once() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.startswith("/v3/reference/tickers/"):
            return httpx.Response(200, content=json.dumps({"status": "OK", "results": {}}))
        return httpx.Response(200, content=json.dumps({"status": "OK", "resultsCount": 0}))

    source = source_for(handler, now_ms=ms("2025-01-01T00:00"))

    async def main() -> list[int]:
        async with source:
            sizes = []
            for day in ("2024-03-30", "2024-03-31"):  # a weekend: nothing traded
                start = ms(f"{day}T00:00") * MS
                bars = await source.historical_bars("AAPL", "1d", start, start + 86_400 * 10**9)
                sizes.append(len(bars))
            return sizes

    assert run(main()) == [0, 0]
    assert sum(p.startswith("/v3/reference/tickers/") for p in paths) == 1


def test_an_unknown_ticker_is_named_with_a_hint() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v3/reference/tickers/"):
            return httpx.Response(404, content=json.dumps(
                {"status": "NOT_FOUND", "request_id": "x", "message": "Ticker not found."}))
        return httpx.Response(200, content=json.dumps({"status": "OK", "resultsCount": 0}))

    source = source_for(handler, now_ms=ms("2025-01-01T00:00"))

    async def main() -> None:
        async with source:
            await source.historical_bars("GBPUSD", "1h", 0, 3600 * 10**9)

    with pytest.raises(ConfigError, match=r"^polygon does not know the ticker 'GBPUSD'; for a "
                                          r"currency pair write 'C:GBPUSD', for crypto "
                                          r"'X:GBPUSD'$"):
        run(main())


def test_no_ticker_check_when_turned_off() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, content=json.dumps({"status": "OK", "resultsCount": 0}))

    source = source_for(handler, now_ms=ms("2025-01-01T00:00"), check_tickers=False)

    async def main() -> int:
        async with source:
            return len(await source.historical_bars("ZZZZ", "1h", 0, 3600 * 10**9))

    assert run(main()) == 0 and len(paths) == 1


def test_index_trades_are_refused_before_asking() -> None:
    source = source_for(lambda request: pytest.fail("no request expected"), now_ms=0)

    async def main() -> None:
        async with source:
            await source.historical_trades("I:SPX", 0, 10**9)

    with pytest.raises(ConfigError, match=r"polygon has no trades for indices \(I:SPX\)"):
        run(main())
