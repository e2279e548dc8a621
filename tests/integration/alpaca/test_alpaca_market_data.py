"""Alpaca's market data streams through the adapter (alpaca-py's stock and crypto streams on the
node's loop), against the local Alpaca: quotes, trades, minute bars and longer bars built from
them, subscriptions acknowledged before they return, and a dropped stream that comes back
subscribed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import alpaca_harness as h
import pytest

from support.alpaca import CRYPTO, STOCKS, AlpacaServer
from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import MarketData, MarketDataClient
from tradeloop.model.data import Bar, QuoteTick, TradeTick

_MINUTE_NS = 60 * 10**9
_T0 = 1_709_562_600 * 10**9  # 2024-03-04 14:30 UTC, on a five-minute boundary


async def _next(items: AsyncIterator[MarketData], kind: type) -> MarketData:
    async def first() -> MarketData:
        async for item in items:
            if isinstance(item, kind):
                return item
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(first(), 10)


def _market(server: AlpacaServer, tmp: Path) -> MarketDataClient:
    market = h.adapter(server, tmp).market_data
    assert market is not None
    return market


def test_quotes_and_trades_of_a_stock_and_a_crypto_pair(alpaca: AlpacaServer,
                                                        tmp_path: Path) -> None:
    async def scenario() -> None:
        market = _market(alpaca, tmp_path)
        await market.connect()
        items = market.stream()
        try:
            await market.subscribe_quotes("AAPL")
            await market.subscribe_trades("AAPL")
            await market.subscribe_quotes("BTC/USD")
            assert alpaca.subscribed(STOCKS, "quotes") == ["AAPL"]
            assert alpaca.subscribed(STOCKS, "trades") == ["AAPL"]
            assert alpaca.subscribed(CRYPTO, "quotes") == ["BTC/USD"]
            alpaca.set_price("AAPL", "151.00", "151.03")
            quote = await _next(items, QuoteTick)
            assert isinstance(quote, QuoteTick)
            assert (quote.symbol, quote.bid, quote.ask) == ("AAPL", 151.0, 151.03)
            alpaca.publish_trade("AAPL", "151.01", "25")
            trade = await _next(items, TradeTick)
            assert isinstance(trade, TradeTick)
            assert (trade.symbol, trade.price, trade.size) == ("AAPL", 151.01, 25.0)
            assert trade.ts >= quote.ts
            alpaca.set_price("BTC/USD", "64000", "64010")
            crypto = await _next(items, QuoteTick)
            assert isinstance(crypto, QuoteTick)
            assert (crypto.symbol, crypto.bid, crypto.ask) == ("BTC/USD", 64000.0, 64010.0)
            await market.unsubscribe_trades("AAPL")
            await h.eventually(lambda: alpaca.subscribed(STOCKS, "trades") == [],
                               "the unsubscription")
        finally:
            await market.disconnect()

    asyncio.run(scenario())


def test_minute_bars_pass_and_five_minute_bars_are_built_from_them(alpaca: AlpacaServer,
                                                                    tmp_path: Path) -> None:
    async def scenario() -> None:
        market = _market(alpaca, tmp_path)
        await market.connect()
        items = market.stream()
        got: list[Bar] = []
        try:
            await market.subscribe_bars("AAPL", "1m")
            await market.subscribe_bars("AAPL", "5m")
            for k in range(6):
                price = 150.0 + k
                alpaca.publish_bar("AAPL", _T0 + k * _MINUTE_NS, price, price + 2, price - 1,
                                   price + 1, 100.0)
            while len(got) < 7:  # six minutes, one five-minute bar
                bar = await _next(items, Bar)
                assert isinstance(bar, Bar)
                got.append(bar)
        finally:
            await market.disconnect()
        minutes = [b for b in got if b.timeframe == "1m"]
        [five] = [b for b in got if b.timeframe == "5m"]
        assert [b.ts for b in minutes] == [_T0 + k * _MINUTE_NS for k in range(6)]
        assert (five.ts, five.open, five.high, five.low, five.close, five.volume) == (
            _T0, 150.0, 156.0, 149.0, 155.0, 500.0)
        with pytest.raises(ConfigError, match="Alpaca streams minute bars"):
            await _market(alpaca, tmp_path).subscribe_bars("AAPL", "7m")

    asyncio.run(scenario())


def test_a_dropped_data_stream_comes_back_subscribed(alpaca: AlpacaServer,
                                                     tmp_path: Path) -> None:
    async def scenario() -> None:
        market = _market(alpaca, tmp_path)
        await market.connect()
        items = market.stream()
        try:
            await market.subscribe_quotes("AAPL")
            assert alpaca.drop_streams(STOCKS) == 1
            await h.eventually(lambda: alpaca.subscribed(STOCKS, "quotes") == ["AAPL"],
                               "the stream to come back subscribed")
            alpaca.set_price("AAPL", "149.50", "149.52")
            quote = await _next(items, QuoteTick)
            assert isinstance(quote, QuoteTick) and quote.bid == 149.5
        finally:
            await market.disconnect()

    asyncio.run(scenario())
