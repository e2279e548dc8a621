"""Streaming quotes from the local Schwab's streamer: into one-minute bars through a node's
broker data source, level-one options, and a subscription that survives a dropped streamer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from support.schwab import SchwabServer
from tradeloop.brokers.market import BrokerMarketData
from tradeloop.brokers.schwab.data import SchwabMarketDataClient
from tradeloop.brokers.testing.harness import Target
from tradeloop.model.data import Bar, QuoteTick

CALL = "AAPL  261218C00200000"
MINUTE_MS = 60_000


async def _next_quote(stream: AsyncIterator[object], symbol: str, bid: float) -> QuoteTick:
    async for item in stream:
        if isinstance(item, QuoteTick) and item.symbol == symbol and item.bid == bid:
            return item
    raise AssertionError("the stream ended")


def test_quotes_become_one_minute_bars_at_schwab_s_quote_times(
        schwab: SchwabServer, target: Target) -> None:
    # a minute an hour ahead: the bar closes when a later quote arrives, never on the clock
    start_ms = (time.time_ns() // 1_000_000 // MINUTE_MS + 60) * MINUTE_MS
    quotes = [(5_000, "190.00", "190.02"), (20_000, "191.00", "191.02"),
              (40_000, "189.00", "189.02"), (55_000, "190.50", "190.52"),
              (65_000, "192.00", "192.02")]

    async def run() -> Bar:
        adapter = target.connect()
        assert adapter.market_data is not None
        source = BrokerMarketData(adapter.market_data, ["AAPL@1m"], "schwab")
        await source.start()
        try:
            for offset, bid, ask in quotes:
                schwab.set_price("AAPL", bid, ask, at_ms=start_ms + offset)
            async for item in source:  # the snapshot's bar (now) closes first
                if isinstance(item, Bar) and item.ts == start_ms * 1_000_000:
                    return item
            raise AssertionError("no bar")
        finally:
            await source.stop()

    bar = asyncio.run(asyncio.wait_for(run(), 20))
    assert (bar.symbol, bar.ts, bar.timeframe) == ("AAPL", start_ms * 1_000_000, "1m")
    assert (bar.open, bar.high, bar.low, bar.close) == (190.01, 191.01, 189.01, 190.51)


def test_option_quotes_come_from_level_one_options(schwab: SchwabServer, target: Target) -> None:
    async def run() -> QuoteTick:
        adapter = target.connect()
        market = adapter.market_data
        assert market is not None
        await market.connect()
        try:
            await market.subscribe_quotes(CALL)
            stream = market.stream()
            await _next_quote(stream, CALL, 7.40)  # the snapshot
            schwab.set_price(CALL, "7.55", "7.65", at_ms=1_900_000_000_000)
            return await _next_quote(stream, CALL, 7.55)
        finally:
            await adapter.close()

    quote = asyncio.run(asyncio.wait_for(run(), 20))
    assert (quote.bid, quote.ask, quote.ts) == (7.55, 7.65, 1_900_000_000_000 * 1_000_000)
    assert ("LEVELONE_OPTIONS", CALL) not in schwab.streamer.subscriptions()  # closed


def test_the_subscription_survives_a_dropped_streamer(schwab: SchwabServer,
                                                      target: Target) -> None:
    async def run() -> tuple[QuoteTick, int]:
        adapter = target.connect()
        market = adapter.market_data
        assert isinstance(market, SchwabMarketDataClient)
        await market.connect()
        try:
            await market.subscribe_quotes("AAPL")
            stream = market.stream()
            await _next_quote(stream, "AAPL", 189.5)
            schwab.drop_streams()
            while ("LEVELONE_EQUITIES", "AAPL") not in schwab.streamer.subscriptions():
                await asyncio.sleep(0.02)  # logged in and subscribed again by itself
            schwab.set_price("AAPL", "189.70", "189.72")
            return await _next_quote(stream, "AAPL", 189.7), market.reconnects
        finally:
            await adapter.close()

    quote, reconnects = asyncio.run(asyncio.wait_for(run(), 20))
    assert quote.ask == 189.72 and reconnects == 1
