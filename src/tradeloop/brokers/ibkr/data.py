"""IB market data (:class:`IbkrMarketDataClient`).

* Quotes and trades from ``reqMktData`` ticks: a quote whenever the best bid or ask changes, a
  trade for every last-price tick.
* Bars from IB's 5-second real-time bars, aggregated into the timeframe asked for by the
  project's bar builder (a bar closes as soon as the 5-second bar that ends it arrives).
* History from ``reqHistoricalData`` for a range, split into requests IB accepts (bar size and
  duration pairs of its table), each held by :class:`~.pacing.HistoryPacer` until it breaks
  none of IB's pacing rules.

Subscriptions survive a reconnection: they are made again once the link is back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeloop.brokers.base import StreamQueue
from tradeloop.brokers.ibkr import parse
from tradeloop.brokers.ibkr.client import IbkrClient
from tradeloop.brokers.ibkr.contracts import ContractBook
from tradeloop.brokers.ibkr.errors import IbkrFatalError, IbkrRetryableError
from tradeloop.brokers.ibkr.pacing import HistoryPacer
from tradeloop.core.errors import ConfigError
from tradeloop.data.bars import BarBuilder, TimeBars
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick, TradeTick

logger = logging.getLogger(__name__)
_NS = 1_000_000_000
_DAY = 86_400
#: Seconds -> IB bar size.
BAR_SIZES: dict[int, str] = {
    1: "1 secs", 5: "5 secs", 10: "10 secs", 15: "15 secs", 30: "30 secs", 60: "1 min",
    120: "2 mins", 180: "3 mins", 300: "5 mins", 600: "10 mins", 900: "15 mins",
    1200: "20 mins", 1800: "30 mins", 3600: "1 hour", 7200: "2 hours", 10_800: "3 hours",
    14_400: "4 hours", 28_800: "8 hours", 86_400: "1 day", 604_800: "1 week",
}
#: Real-time bars: IB's only size.
REALTIME_S = 5
_LAST_TICKS = frozenset({4, 68})
_PACING_RETRIES = 3


def chunk_seconds(bar_s: int) -> int:
    """The longest span one historical request may cover for a bar size (IB's table of
    valid duration and bar size pairs)."""
    if bar_s < 5:
        return 1800
    if bar_s < 10:
        return 3600
    if bar_s < 30:
        return 14_400
    if bar_s < 60:
        return 28_800
    if bar_s < 120:
        return _DAY
    if bar_s < 300:
        return 2 * _DAY
    if bar_s < 3600:
        return 7 * _DAY
    if bar_s < _DAY:
        return 30 * _DAY
    return 364 * _DAY


def duration(seconds: int) -> str:
    """An IB duration covering ``seconds``: ``"N S"`` up to a day, ``"N D"`` beyond."""
    if seconds <= _DAY:
        return f"{max(1, seconds)} S"
    return f"{math.ceil(seconds / _DAY)} D"


def chunks(start_ns: int, end_ns: int, bar_s: int) -> list[tuple[int, int]]:
    """``[start, end)`` split into spans one request each may cover, oldest first."""
    step = chunk_seconds(bar_s) * _NS
    out = []
    at = start_ns
    while at < end_ns:
        out.append((at, min(end_ns, at + step)))
        at += step
    return out


@dataclass
class _Bars:
    """One symbol's real-time bar subscription and the timeframes built from it."""

    symbol: str
    builders: dict[str, BarBuilder] = field(default_factory=dict)
    handle: Any = None


class IbkrMarketDataClient:
    """Quotes, trades, bars and history from IB.

    Parameters
    ----------
    client : IbkrClient
        Shared with the execution client.
    book : ContractBook
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: IbkrClient, book: ContractBook,
                 capabilities: VenueCapabilities, venue: str = "IBKR") -> None:
        self.client = client
        self.book = book
        self.config = client.config
        self.capabilities = capabilities
        self.venue = venue
        cfg = client.config
        self.pacer = HistoryPacer(cfg.history_identical_s, cfg.history_per_contract,
                                  cfg.history_per_contract_s, cfg.history_max_requests,
                                  cfg.history_window_s)
        self._queue = StreamQueue()
        self._quotes: set[str] = set()
        self._trades: set[str] = set()
        self._tickers: dict[str, Any] = {}
        self._ticker_symbols: dict[int, str] = {}
        self._last_quote: dict[str, tuple[float, float]] = {}
        self._last_ts: dict[str, int] = {}
        self._bars: dict[str, _Bars] = {}
        self._bar_symbols: dict[int, str] = {}
        self._connected = False
        client.on_connected(self._on_connected)
        client.ib.pendingTickersEvent += self._on_tickers
        client.ib.barUpdateEvent += self._on_realtime_bar

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (shared with the execution client)."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True
        self._queue = StreamQueue()

    async def disconnect(self) -> None:
        """Cancel the subscriptions and release the connection; the stream ends."""
        if not self._connected:
            return
        self._connected = False
        if self.client.connected:
            with contextlib.suppress(Exception):
                for symbol in list(self._tickers):
                    self._cancel_ticker(symbol)
                for subscription in self._bars.values():
                    if subscription.handle is not None:
                        self.client.ib.cancelRealTimeBars(subscription.handle)
        self._tickers.clear()
        self._ticker_symbols.clear()
        self._bars.clear()
        self._bar_symbols.clear()
        self._quotes.clear()
        self._trades.clear()
        self._queue.close()
        await self.client.close()

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed quotes, trades and bars as they arrive."""
        return self._queue.items()

    # -- subscriptions --------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Stream the best bid and ask of ``symbol``."""
        await self._ticker(symbol)
        self._quotes.add(symbol)

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        self._quotes.discard(symbol)
        if symbol not in self._trades:
            self._cancel_ticker(symbol)

    async def subscribe_trades(self, symbol: str) -> None:
        """Stream the trades (last price and size) of ``symbol``."""
        await self._ticker(symbol)
        self._trades.add(symbol)

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        self._trades.discard(symbol)
        if symbol not in self._quotes:
            self._cancel_ticker(symbol)

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stream complete ``timeframe`` bars of ``symbol``, built from 5-second bars.

        Raises
        ------
        ConfigError
            A timeframe that is not a whole number of 5-second bars.
        """
        tf = parse_timeframe(timeframe)
        if tf.ns % (REALTIME_S * _NS):
            raise ConfigError(f"timeframe {timeframe!r}: IB's real-time bars are 5 seconds: "
                              "use a multiple of 5s")
        subscription = self._bars.get(symbol)
        if subscription is None:
            subscription = self._bars[symbol] = _Bars(symbol)
        subscription.builders.setdefault(tf.label, BarBuilder(symbol, TimeBars(tf)))
        if subscription.handle is None:
            await self._request_bars(subscription)

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stop them."""
        subscription = self._bars.get(symbol)
        if subscription is None:
            return
        subscription.builders.pop(parse_timeframe(timeframe).label, None)
        if not subscription.builders:
            del self._bars[symbol]
            if subscription.handle is not None:
                self._bar_symbols.pop(subscription.handle.reqId, None)
                with contextlib.suppress(Exception):
                    self.client.ib.cancelRealTimeBars(subscription.handle)

    async def _ticker(self, symbol: str) -> None:
        if symbol in self._tickers:
            return
        contract = await self._contract(symbol)
        await self.client.ready()
        ticker = self.client.ib.reqMktData(contract, "", False, False)
        self._tickers[symbol] = ticker
        self._ticker_symbols[id(ticker)] = symbol

    def _cancel_ticker(self, symbol: str) -> None:
        ticker = self._tickers.pop(symbol, None)
        if ticker is None:
            return
        self._ticker_symbols.pop(id(ticker), None)
        if self.client.connected:
            with contextlib.suppress(Exception):
                self.client.ib.cancelMktData(ticker.contract)

    async def _request_bars(self, subscription: _Bars) -> None:
        symbol = subscription.symbol
        contract = await self._contract(symbol)
        await self.client.ready()
        spec = self.book.spec(symbol)
        handle = self.client.ib.reqRealTimeBars(contract, REALTIME_S, spec.bar_source,
                                                self.config.history_rth_only)
        subscription.handle = handle
        self._bar_symbols[handle.reqId] = symbol

    async def _contract(self, symbol: str) -> Any:
        try:
            return await self.book.contract(symbol)
        except ConfigError:
            raise
        except IbkrFatalError as exc:
            raise ConfigError(str(exc)) from None

    async def _on_connected(self, reconnected: bool, data_lost: bool) -> None:
        """Subscribe again after a reconnection (IB forgot every subscription)."""
        if not reconnected or not data_lost or not self._connected:
            return
        ib = self.client.ib
        symbols = list(self._tickers)
        for symbol in symbols:  # IB dropped them; ib_async still lists them after a 1101
            ticker = self._tickers.pop(symbol)
            self._ticker_symbols.pop(id(ticker), None)
            if ib.ticker(ticker.contract) is not None:
                with contextlib.suppress(Exception):
                    ib.cancelMktData(ticker.contract)
        for symbol in symbols:
            await self._ticker(symbol)
        self._bar_symbols.clear()
        live = [id(b) for b in ib.realtimeBars()]
        for subscription in self._bars.values():
            if subscription.handle is not None and id(subscription.handle) in live:
                with contextlib.suppress(Exception):
                    ib.cancelRealTimeBars(subscription.handle)
            subscription.handle = None
            await self._request_bars(subscription)
        if symbols or self._bars:
            logger.info("market data subscribed again", extra={"fields": {
                "tickers": len(symbols), "bars": len(self._bars)}})

    # -- IB's messages --------------------------------------------------------------------------

    def _stamp(self, symbol: str) -> int:
        now = max(time.time_ns(), self._last_ts.get(symbol, 0))
        self._last_ts[symbol] = now
        return now

    def _on_tickers(self, tickers: Any) -> None:
        for ticker in tickers:
            symbol = self._ticker_symbols.get(id(ticker))
            if symbol is None:
                continue
            if symbol in self._trades:
                for tick in ticker.ticks:
                    if tick.tickType in _LAST_TICKS and parse.is_set(tick.price) \
                            and tick.price > 0:
                        self._queue.put(TradeTick(symbol, self._stamp(symbol),
                                                  float(tick.price), float(tick.size or 0)))
            if symbol in self._quotes:
                bid, ask = float(ticker.bid), float(ticker.ask)
                if not (bid > 0 and ask > 0 and math.isfinite(bid) and math.isfinite(ask)):
                    continue
                if self._last_quote.get(symbol) == (bid, ask):
                    continue
                self._last_quote[symbol] = (bid, ask)
                self._queue.put(QuoteTick(symbol, self._stamp(symbol), bid, ask,
                                          _size(ticker.bidSize), _size(ticker.askSize)))

    def _on_realtime_bar(self, bars: Any, has_new_bar: bool) -> None:
        symbol = self._bar_symbols.get(getattr(bars, "reqId", -1))
        subscription = self._bars.get(symbol) if symbol is not None else None
        if subscription is None or not has_new_bar or not len(bars):
            return
        ts, o, h, low, c, volume = parse.bar_rows([bars[-1]])[0]
        for builder in subscription.builders.values():
            for price, size in ((o, 0.0), (h, 0.0), (low, 0.0), (c, volume)):
                for bar in builder.on_trade(ts, price, size):
                    self._queue.put(bar)
            for bar in builder.on_time(ts + REALTIME_S * _NS):
                self._queue.put(bar)

    # -- history ----------------------------------------------------------------------------------

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars opening in ``[start_ns, end_ns)``, oldest first, in as many requests
        as IB needs, paced by IB's rules.

        Raises
        ------
        ConfigError
            A timeframe IB has no bar size for, or a symbol not configured.
        IbkrRetryableError
            IB still reported pacing violations after a few patient retries.
        """
        tf = parse_timeframe(timeframe)
        bar_s = tf.ns // _NS
        size = BAR_SIZES.get(int(bar_s)) if tf.ns % _NS == 0 else None
        if size is None:
            raise ConfigError(f"timeframe {timeframe!r}: IB's bar sizes are "
                              + ", ".join(BAR_SIZES.values()))
        contract = await self._contract(symbol)
        spec = self.book.spec(symbol)
        rows: dict[int, tuple[float, float, float, float, float]] = {}
        for lo, hi in chunks(start_ns, end_ns, int(bar_s)):
            for ts, o, h, low, c, v in await self._chunk(contract, spec.bar_source, size,
                                                         lo, hi, int(bar_s)):
                if lo <= ts < hi and start_ns <= ts < end_ns:
                    rows[ts] = (o, h, low, c, v)
        stamps = sorted(rows)
        columns = np.array([rows[t] for t in stamps], dtype=np.float64).reshape(-1, 5)
        return BarSeries(symbol, np.array(stamps, dtype=np.int64), columns[:, 0].copy(),
                         columns[:, 1].copy(), columns[:, 2].copy(), columns[:, 3].copy(),
                         columns[:, 4].copy(), timeframe_ns=tf.ns, source="ibkr")

    async def _chunk(self, contract: Any, what: str, size: str, lo: int, hi: int,
                     bar_s: int) -> list[tuple[int, float, float, float, float, float]]:
        end = dt.datetime.fromtimestamp(hi // _NS, dt.UTC)
        span = duration(int((hi - lo) // _NS))
        rth = self.config.history_rth_only
        key = (str(contract.conId or contract.localSymbol), contract.exchange, what)
        request = (key, end.isoformat(), span, size, rth)
        for attempt in range(1, _PACING_RETRIES + 1):
            await self.pacer.acquire(key, request)
            try:
                bars = await self.client.request(
                    f"historical bars of {contract.localSymbol or contract.symbol}",
                    lambda: self.client.ib.reqHistoricalDataAsync(
                        contract, end, span, size, what, rth, formatDate=2,
                        timeout=self.config.request_timeout_s),
                    timeout=self.config.request_timeout_s + 5)
            except IbkrRetryableError as exc:
                if exc.code != 162 or attempt == _PACING_RETRIES:
                    raise
                logger.warning("IB reported a pacing violation: waiting", extra={"fields": {
                    "attempt": attempt, "error": str(exc)}})
                continue
            except IbkrFatalError as exc:
                if exc.code == 162:  # "query returned no data"
                    return []
                raise
            return parse.bar_rows(bars)
        return []


def _size(value: Any) -> float:
    number = float(value) if value is not None else 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


__all__ = ["BAR_SIZES", "REALTIME_S", "IbkrMarketDataClient", "chunk_seconds", "chunks",
           "duration"]
