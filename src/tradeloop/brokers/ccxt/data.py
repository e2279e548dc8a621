"""The market data client over ccxt (:class:`CcxtMarketDataClient`).

With ``use_websockets`` (and ccxt.pro support) quotes come from ``watch_bids_asks`` (the book
ticker; ``watch_ticker`` where there is none), trades from ``watch_trades`` and bars from
``watch_ohlcv``; otherwise each is polled every ``poll_interval_s`` (``fetch_bids_asks`` or
``fetch_ticker``, ``fetch_trades``, ``fetch_ohlcv``). Only complete bars are passed on: a bar
is complete once a later one has started or its end has passed. A subscription returns once
the exchange has sent its first item, so nothing published after it is missed; a lost
connection is re-opened with backoff and the subscription renewed.

:meth:`CcxtMarketDataClient.historical_bars` pages ``fetch_ohlcv`` over the range,
``ohlcv_limit`` bars per request, and keeps complete bars that open inside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from tradeloop.brokers.base import StreamQueue, cancel_tasks
from tradeloop.brokers.ccxt import parse
from tradeloop.brokers.ccxt.client import CcxtClient, calling
from tradeloop.brokers.ccxt.errors import CcxtFatalError
from tradeloop.core.errors import ConfigError, FatalVenueError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick

logger = logging.getLogger(__name__)

NS_PER_MS = parse.NS_PER_MS
Progress = Callable[[int, int], None]


def ccxt_timeframe(exchange: Any, timeframe: str) -> tuple[str, int]:
    """ccxt's name for ``timeframe`` on ``exchange`` and its length in ms.

    Raises
    ------
    ConfigError
        The exchange has no bars of that length.
    """
    wanted = parse_timeframe(timeframe).ns
    names = dict(getattr(exchange, "timeframes", None) or {})
    for name in names:
        if name.endswith("M"):  # months, not minutes
            continue
        try:
            if parse_timeframe(name).ns == wanted:
                return name, wanted // NS_PER_MS
        except ConfigError:
            continue
    known = ", ".join(n for n in names if not n.endswith("M"))
    raise ConfigError(f"{exchange.id} has no {timeframe} bars (it has {known})")


class CcxtMarketDataClient:
    """Quotes, trades and bars of one exchange through ccxt.

    Parameters
    ----------
    client : CcxtClient
        Shared with the execution client.
    capabilities : VenueCapabilities
    """

    def __init__(self, client: CcxtClient, capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config = client.config
        self.venue = self.config.venue_name
        self.capabilities = capabilities
        self._queue = StreamQueue()
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._connected = False
        #: Stream connections lost and re-opened.
        self.reconnects = 0

    @property
    def streaming(self) -> bool:
        """True when the data comes from websockets."""
        return self.client.streams

    async def connect(self) -> None:
        """Load the markets."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True

    async def disconnect(self) -> None:
        """Stop every subscription; :meth:`stream` ends."""
        tasks, self._tasks = list(self._tasks.values()), {}
        await cancel_tasks(*tasks)
        if self._connected:
            self._connected = False
            await self.client.close()
        self._queue.close()
        self._queue = StreamQueue()

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed items as they arrive, until :meth:`disconnect`."""
        return self._queue.items()

    # -- subscriptions -------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Start the best bid and offer of ``symbol`` (returns after the first one)."""
        await self._start(("quotes", symbol, ""), self._quotes(symbol))

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        await self._stop(("quotes", symbol, ""))

    async def subscribe_trades(self, symbol: str) -> None:
        """Start the public trades of ``symbol``."""
        await self._start(("trades", symbol, ""), self._trades(symbol), wait=False)

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        await self._stop(("trades", symbol, ""))

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Start ``timeframe`` bars of ``symbol``, each once complete."""
        name, length_ms = ccxt_timeframe(self.client.exchange, timeframe)
        label = parse_timeframe(timeframe).label
        await self._start(("bars", symbol, label), self._bars(symbol, name, length_ms, label))

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stop them."""
        await self._stop(("bars", symbol, parse_timeframe(timeframe).label))

    # -- history -------------------------------------------------------------------------------

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int, end_ns: int,
                              progress: Progress | None = None) -> BarSeries:
        """Complete bars that open in ``[start_ns, end_ns)``, oldest first.

        Parameters
        ----------
        progress : callable, optional
            Called with (ms covered, ms to cover) after each page.

        Raises
        ------
        ConfigError
            An unknown symbol or a bar length the exchange does not have.
        """
        self._check_symbol(symbol)
        exchange = self.client.exchange
        name, length_ms = ccxt_timeframe(exchange, timeframe)
        start_ms = -(-start_ns // NS_PER_MS)
        end_ms = -(-end_ns // NS_PER_MS)
        complete_before = int(time.time() * 1000) - length_ms
        rows: list[list[Any]] = []
        cursor = start_ms
        limit = self.config.ohlcv_limit
        total = max(1, end_ms - start_ms)
        while cursor < end_ms:
            page = await self.client.call(
                f"fetch_ohlcv {symbol} {name}",
                calling("fetch_ohlcv", symbol, name, cursor, limit,
                        {"until": end_ms - 1}))
            fresh = [r for r in page if cursor <= int(r[0]) < end_ms]
            if not fresh:
                break
            rows += fresh
            cursor = int(fresh[-1][0]) + length_ms
            if progress is not None:
                progress(min(cursor, end_ms) - start_ms, total)
            if len(page) < limit or cursor > complete_before:
                break
        by_ts = {int(r[0]): r for r in rows if int(r[0]) <= complete_before}
        ordered = [by_ts[ts] for ts in sorted(by_ts)]
        return parse.bars_from_ohlcv(ordered, symbol, length_ms * NS_PER_MS,
                                     f"{self.config.exchange}:{symbol}:{name}")

    # -- loops ---------------------------------------------------------------------------------

    def _check_symbol(self, symbol: str) -> None:
        try:
            self.client.market(symbol)
        except CcxtFatalError:
            raise ConfigError(f"{self.config.exchange} does not list {symbol!r}") from None

    async def _start(self, key: tuple[str, str, str],
                     loop_body: Callable[[asyncio.Future[None]], Coroutine[Any, Any, None]],
                     wait: bool = True) -> None:
        self._check_symbol(key[1])
        if key in self._tasks:
            return
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks[key] = asyncio.get_running_loop().create_task(
            loop_body(first), name=f"ccxt-{key[0]}-{key[1]}")
        if not wait:
            return
        try:
            await asyncio.wait_for(asyncio.shield(first), self.config.timeout_s)
        except TimeoutError:
            logger.warning("no market data yet after subscribing", extra={"fields": {
                "what": key[0], "symbol": key[1]}})

    async def _stop(self, key: tuple[str, str, str]) -> None:
        await cancel_tasks(self._tasks.pop(key, None))

    def _quotes(self, symbol: str) -> Callable[[asyncio.Future[None]], Coroutine[Any, Any, None]]:
        exchange = self.client.exchange
        has = getattr(exchange, "has", {}) or {}
        last: list[QuoteTick | None] = [None]

        def deliver(ticker: Any) -> bool:
            quote = parse.quote_from_ticker(ticker, symbol, time.time_ns())
            if quote is None:
                return False
            previous = last[0]
            if previous is not None:
                if quote[2:] == previous[2:]:
                    return True
                if quote.ts < previous.ts:
                    quote = quote._replace(ts=previous.ts)
            last[0] = quote
            self._queue.put(quote)
            return True

        def pick(answer: Any) -> Any:
            if isinstance(answer, dict) and symbol in answer and "symbol" not in answer:
                return answer[symbol]
            return answer

        if self.streaming:
            method = "watch_bids_asks" if has.get("watchBidsAsks") else "watch_ticker"
            call = calling(method, [symbol]) if method == "watch_bids_asks" \
                else calling(method, symbol)
            cache = "bidsasks" if method == "watch_bids_asks" else "tickers"
            seen: list[Any] = [None]

            def on_message() -> None:
                ticker = (getattr(exchange, cache, None) or {}).get(symbol)
                if ticker is not None and ticker is not seen[0]:
                    seen[0] = ticker
                    deliver(ticker)

            async def body(first: asyncio.Future[None]) -> None:
                remove = self.client.add_listener(on_message)
                try:
                    await self._watch(f"{method} {symbol}", call,
                                      lambda a: deliver(pick(a)), first)
                finally:
                    remove()

            return body
        method = "fetch_bids_asks" if has.get("fetchBidsAsks") else "fetch_ticker"
        call = calling(method, [symbol]) if method == "fetch_bids_asks" \
            else calling(method, symbol)
        return lambda first: self._poll(f"{method} {symbol}", call,
                                        lambda a: deliver(pick(a)), first)

    def _trades(self, symbol: str) -> Callable[[asyncio.Future[None]], Coroutine[Any, Any, None]]:
        seen: dict[str, int] = {}
        newest = [0]

        def deliver(trades: Any) -> bool:
            for raw in sorted(trades or (), key=lambda t: (t.get("timestamp") or 0,
                                                          str(t.get("id")))):
                tick = parse.trade_tick(raw, symbol)
                if tick.trade_id in seen or tick.ts < newest[0] - 60 * 10**9:
                    continue
                seen[tick.trade_id] = tick.ts
                newest[0] = max(newest[0], tick.ts)
                self._queue.put(tick)
            if len(seen) > 10_000:
                for key in sorted(seen, key=seen.__getitem__)[:5_000]:
                    del seen[key]
            return True

        if self.streaming:
            return lambda first: self._watch(f"watch_trades {symbol}",
                                             calling("watch_trades", symbol), deliver, first)
        return lambda first: self._poll(f"fetch_trades {symbol}",
                                        calling("fetch_trades", symbol), deliver, first)

    def _bars(self, symbol: str, name: str, length_ms: int, label: str
              ) -> Callable[[asyncio.Future[None]], Coroutine[Any, Any, None]]:
        emitted = [int(time.time() * 1000) // length_ms * length_ms - length_ms]
        held: list[list[Any]] = []  # the newest candle seen, while it may still change

        def pass_on(row: list[Any]) -> None:
            emitted[0] = int(row[0])
            held.clear()
            self._queue.put(parse.bar_from_ohlcv(row, symbol, label))

        def deliver(candles: Any) -> bool:
            # a stream brings the candles that changed (often one), a poll the last few: a
            # candle has ended once a newer one shows up, or once its time is over
            for row in sorted((list(c) for c in candles or ()), key=lambda c: int(c[0])):
                ts = int(row[0])
                if ts <= emitted[0]:
                    continue
                if held and ts < int(held[0][0]):
                    continue  # late news of a candle already followed by a newer one
                if held and ts > int(held[0][0]):
                    pass_on(held[0])
                held[:] = [row]
            if held and int(held[0][0]) + length_ms <= int(time.time() * 1000):
                pass_on(held[0])
            return True

        if self.streaming:
            return lambda first: self._watch(f"watch_ohlcv {symbol} {name}",
                                             calling("watch_ohlcv", symbol, name),
                                             deliver, first)
        return lambda first: self._poll(f"fetch_ohlcv {symbol} {name}",
                                        calling("fetch_ohlcv", symbol, name, None, 3),
                                        deliver, first)

    async def _watch(self, what: str, call: Callable[[Any], Awaitable[Any]],
                     deliver: Callable[[Any], bool], first: asyncio.Future[None]) -> None:
        delay = self.config.reconnect_initial_s
        while True:
            try:
                answer = await self.client.call(what, call)
                delay = self.config.reconnect_initial_s
                if deliver(answer) and not first.done():
                    first.set_result(None)
            except asyncio.CancelledError:
                raise
            except FatalVenueError as exc:
                logger.error("market stream refused", extra={"fields": {
                    "stream": what, "error": str(exc)}})
                await asyncio.sleep(self.config.reconnect_max_s)
            except Exception as exc:
                self.reconnects += 1
                logger.warning("market stream lost", extra={"fields": {
                    "stream": what, "error": f"{type(exc).__name__}: {exc}"}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)

    async def _poll(self, what: str, call: Callable[[Any], Awaitable[Any]],
                    deliver: Callable[[Any], bool], first: asyncio.Future[None]) -> None:
        failures = 0
        while True:
            pause = self.config.poll_interval_s
            try:
                if deliver(await self.client.call(what, call)) and not first.done():
                    first.set_result(None)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                logger.log(level, "market data poll failed", extra={"fields": {
                    "request": what, "error": f"{type(exc).__name__}: {exc}",
                    "failures": failures}})
                pause = min(pause * 2 ** failures, max(pause, self.config.reconnect_max_s))
            await asyncio.sleep(pause)


__all__ = ["CcxtMarketDataClient", "ccxt_timeframe"]
