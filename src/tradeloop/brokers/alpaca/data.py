"""The market data client over Alpaca (:class:`AlpacaMarketDataClient`).

Live data comes from alpaca-py's ``StockDataStream`` (the configured feed) and
``CryptoDataStream``: quotes, trades and one-minute bars. Longer bars (``5m``, ``1h``...) are
built from the minute bars, each passed on once its last minute has arrived or a later bar
has. A subscription returns once Alpaca has acknowledged it, so nothing sent after it is
missed; the SDK reconnects a dropped stream and subscribes again by itself.

:meth:`AlpacaMarketDataClient.historical_bars` reads ``/v2/stocks/bars`` or
``/v1beta3/crypto/<location>/bars`` through the SDK, which follows ``next_page_token`` page by
page, and keeps the complete bars that open inside the range.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from alpaca.data.enums import Adjustment
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from tradeloop.brokers.alpaca import parse
from tradeloop.brokers.alpaca.client import (
    AlpacaClient,
    CryptoStream,
    StockStream,
    run_stream,
    stop_stream,
)
from tradeloop.brokers.alpaca.orders import is_crypto
from tradeloop.brokers.base import StreamQueue
from tradeloop.core.errors import ConfigError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import Bar, BarSeries

logger = logging.getLogger(__name__)

NS_PER_MINUTE = 60 * 10**9
_MINUTES_PER_DAY = 1440
Progress = Callable[[int, int], None]


def alpaca_timeframe(timeframe: str) -> tuple[TimeFrame, int]:
    """alpaca-py's ``TimeFrame`` of ``timeframe`` (``"1m"``, ``"15m"``, ``"1h"``, ``"1d"``,
    ``"1w"``) and its length in ns.

    Raises
    ------
    ConfigError
        A length Alpaca has no bars of.
    """
    length = parse_timeframe(timeframe).ns
    minutes, rest = divmod(length, NS_PER_MINUTE)
    if not rest:
        if 1 <= minutes <= 59:
            return TimeFrame(minutes, TimeFrameUnit.Minute), length
        if minutes % 60 == 0 and 1 <= minutes // 60 <= 23:
            return TimeFrame(minutes // 60, TimeFrameUnit.Hour), length
        if minutes == _MINUTES_PER_DAY:
            return TimeFrame(1, TimeFrameUnit.Day), length
        if minutes == 7 * _MINUTES_PER_DAY:
            return TimeFrame(1, TimeFrameUnit.Week), length
    raise ConfigError(f"Alpaca has no {timeframe} bars (it has 1-59 minutes, 1-23 hours, 1 day "
                      "and 1 week)")


class _Aggregate:
    """Minute bars into bars of ``minutes`` (a divisor of a day)."""

    def __init__(self, symbol: str, minutes: int, label: str) -> None:
        self.symbol = symbol
        self.length = minutes * NS_PER_MINUTE
        self.label = label
        self._open: list[Bar] = []

    def add(self, bar: Bar) -> list[Bar]:
        out = []
        start = bar.ts // self.length * self.length
        if self._open and self._open[0].ts // self.length * self.length != start:
            out.append(self._flush())
        self._open.append(bar)
        if bar.ts + NS_PER_MINUTE >= start + self.length:
            out.append(self._flush())
        return out

    def _flush(self) -> Bar:
        bars, self._open = self._open, []
        start = bars[0].ts // self.length * self.length
        return Bar(self.symbol, start, bars[0].open, max(b.high for b in bars),
                   min(b.low for b in bars), bars[-1].close, sum(b.volume for b in bars),
                   self.label)


class AlpacaMarketDataClient:
    """Quotes, trades and bars of stocks and crypto pairs from Alpaca.

    Parameters
    ----------
    client : AlpacaClient
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: AlpacaClient, capabilities: VenueCapabilities,
                 venue: str = "ALPACA") -> None:
        self.client = client
        self.config = client.config
        self.capabilities = capabilities
        self.venue = venue
        self._queue = StreamQueue()
        self._streams: dict[bool, StockStream | CryptoStream] = {}
        self._tasks: dict[bool, asyncio.Task[None]] = {}
        self._acked: dict[tuple[bool, str, str], asyncio.Event] = {}
        self._bars: dict[str, dict[str, _Aggregate]] = {}
        self._connected = False

    async def connect(self) -> None:
        """Ready the streams (they connect on the first subscription)."""
        self._connected = True

    async def disconnect(self) -> None:
        """Stop every stream; :meth:`stream` ends."""
        streams, self._streams = self._streams, {}
        tasks, self._tasks = self._tasks, {}
        for crypto, stream in streams.items():
            await stop_stream(stream, tasks.get(crypto))
        self._acked.clear()
        self._bars.clear()
        self._connected = False
        self._queue.close()
        self._queue = StreamQueue()

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed items as they arrive, until :meth:`disconnect`."""
        return self._queue.items()

    # -- subscriptions ------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Start the best bid and offer of ``symbol`` (returns once Alpaca acknowledged)."""
        stream = self._stream_of(symbol)
        await self._subscribe(symbol, "quotes",
                              lambda: stream.subscribe_quotes(self._on_quote, symbol))

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        self._stream_of(symbol).unsubscribe_quotes(symbol)

    async def subscribe_trades(self, symbol: str) -> None:
        """Start the trades of ``symbol``."""
        stream = self._stream_of(symbol)
        await self._subscribe(symbol, "trades",
                              lambda: stream.subscribe_trades(self._on_trade, symbol))

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        self._stream_of(symbol).unsubscribe_trades(symbol)

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Start ``timeframe`` bars of ``symbol`` (Alpaca streams minute bars; longer ones are
        built from them), each once complete.

        Raises
        ------
        ConfigError
            A length that does not divide a day into whole minutes.
        """
        frame = parse_timeframe(timeframe)
        minutes, rest = divmod(frame.ns, NS_PER_MINUTE)
        if rest or minutes < 1 or _MINUTES_PER_DAY % minutes:
            raise ConfigError(f"Alpaca streams minute bars: {timeframe} bars cannot be built "
                              "from them (use a length that divides a day into minutes)")
        self._bars.setdefault(symbol, {})[frame.label] = _Aggregate(symbol, minutes,
                                                                    frame.label)
        stream = self._stream_of(symbol)
        await self._subscribe(symbol, "bars", lambda: stream.subscribe_bars(self._on_bar, symbol))

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stop them."""
        kept = self._bars.get(symbol, {})
        kept.pop(parse_timeframe(timeframe).label, None)
        if not kept:
            self._bars.pop(symbol, None)
            self._stream_of(symbol).unsubscribe_bars(symbol)

    # -- history ------------------------------------------------------------------------------

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int, end_ns: int,
                              progress: Progress | None = None) -> BarSeries:
        """Complete bars that open in ``[start_ns, end_ns)``, oldest first.

        Raises
        ------
        ConfigError
            A bar length Alpaca does not have.
        """
        frame, length = alpaca_timeframe(timeframe)
        start = _moment(start_ns)
        end = _moment(max(start_ns, end_ns - 1000))  # Alpaca's end is inclusive
        if is_crypto(symbol):
            crypto_request = CryptoBarsRequest(symbol_or_symbols=symbol, timeframe=frame,
                                               start=start, end=end)
            feed = self.client.crypto_feed()
            raw = await self.client.call(f"crypto bars {symbol}", lambda: self.client.crypto
                                         .get_crypto_bars(crypto_request, feed=feed))
        else:
            stock_request = StockBarsRequest(
                symbol_or_symbols=symbol, timeframe=frame, start=start, end=end,
                feed=self.client.stock_feed(), adjustment=Adjustment(self.config.adjustment))
            raw = await self.client.call(f"stock bars {symbol}", lambda: self.client.stocks
                                         .get_stock_bars(stock_request))
        rows = list((raw or {}).get(symbol) or ())
        bars = parse.bar_series(rows, symbol, length, start_ns, end_ns, time.time_ns(),
                                f"alpaca:{symbol}:{frame.value}")
        if progress is not None:
            progress(end_ns - start_ns, end_ns - start_ns)
        return bars

    # -- streams ------------------------------------------------------------------------------

    def _stream_of(self, symbol: str) -> StockStream | CryptoStream:
        crypto = is_crypto(symbol)
        stream = self._streams.get(crypto)
        if stream is None:
            stream = self.client.data_stream(crypto, partial(self._on_ack, crypto))
            self._streams[crypto] = stream
        return stream

    async def _subscribe(self, symbol: str, channel: str, register: Callable[[], None]) -> None:
        crypto = is_crypto(symbol)
        acked = self._acked.setdefault((crypto, channel, symbol), asyncio.Event())
        acked.clear()
        register()
        if crypto not in self._tasks:
            self._tasks[crypto] = run_stream(self._streams[crypto],
                                             f"alpaca-{'crypto' if crypto else 'stocks'}-data")
        try:
            await asyncio.wait_for(acked.wait(), self.config.timeout_s)
        except TimeoutError:
            logger.warning("Alpaca has not acknowledged a subscription yet", extra={"fields": {
                "symbol": symbol, "channel": channel}})

    def _on_ack(self, crypto: bool, msg: dict[str, Any]) -> None:
        for (c, channel, symbol), event in self._acked.items():
            if c == crypto and symbol in (msg.get(channel) or ()):
                event.set()

    async def _on_quote(self, msg: Any) -> None:
        self._queue.put(parse.quote_tick(msg))

    async def _on_trade(self, msg: Any) -> None:
        self._queue.put(parse.trade_tick(msg))

    async def _on_bar(self, msg: Any) -> None:
        bar = parse.minute_bar(msg)
        for aggregate in list(self._bars.get(bar.symbol, {}).values()):
            for out in aggregate.add(bar):
                self._queue.put(out)


def _moment(ts_ns: int) -> datetime:
    seconds, nanos = divmod(ts_ns, 10**9)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)


__all__ = ["AlpacaMarketDataClient", "alpaca_timeframe"]
