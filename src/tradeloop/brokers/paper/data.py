"""The market data client of a served paper venue: bars, quotes and trades from its stream.

:class:`PaperMarketDataClient` is an async iterator. It reconnects by itself with backoff; what
the venue published while the connection was down is not replayed (market data has no seq: a
node that needs history reads it from the data store). What it delivered is not delivered
again: a venue restarted after a crash replays its data from the marks it had saved, up to
``marks_flush_ms`` before the crash, so after a reconnect the items of a symbol older than the
last one delivered, and those at its time already delivered, are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable

from websockets.exceptions import ConnectionClosed

from tradeloop.brokers.paper import parse
from tradeloop.brokers.paper.client import PaperHttpClient
from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.protocol import BarMessage, QuoteMessage, ReasonCode, TradeMessage
from tradeloop.core.errors import VenueError
from tradeloop.model.data import Bar, QuoteTick, TradeTick

logger = logging.getLogger(__name__)

MarketData = Bar | QuoteTick | TradeTick


class _Delivered:
    """Per symbol, the time of the last item delivered and the items delivered at that time."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, Counter[MarketData]]] = {}
        self._resume: dict[str, tuple[int, Counter[MarketData]]] = {}

    def reconnected(self) -> None:
        self._resume = {s: (ts, Counter(items)) for s, (ts, items) in self._last.items()}

    def is_new(self, item: MarketData) -> bool:
        symbol, ts = item.symbol, item.ts
        resume = self._resume.get(symbol)
        if resume is not None:
            if ts < resume[0]:
                return False
            if ts == resume[0] and resume[1][item] > 0:
                resume[1][item] -= 1
                return False
            if ts > resume[0]:
                del self._resume[symbol]
        last = self._last.get(symbol)
        if last is None or ts > last[0]:
            self._last[symbol] = (ts, Counter((item,)))
        elif ts == last[0]:
            last[1][item] += 1
        return True


class PaperMarketDataClient:
    """Market data the paper venue processes, as it processes it.

    Parameters
    ----------
    config : PaperClientConfig, optional
    symbols : iterable of str, optional
        Only these instruments (default: all).

    Examples
    --------
    >>> async def watch(client: PaperMarketDataClient) -> None:  # doctest: +SKIP
    ...     async for item in client:
    ...         print(item)
    """

    def __init__(self, config: PaperClientConfig | None = None, *,
                 symbols: Iterable[str] | None = None) -> None:
        self.config = config or PaperClientConfig()
        self.symbols = None if symbols is None else tuple(symbols)
        self._closing = False
        #: Stream connections lost and reopened.
        self.reconnects = 0
        #: Set while the stream is open (wait on it to know that data will arrive).
        self.connected = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self.stream()

    async def close(self) -> None:
        """Stop after the item being read."""
        self._closing = True

    async def stream(self) -> AsyncIterator[MarketData]:
        """Yield every bar, quote and trade from now on, reconnecting as needed.

        Raises
        ------
        PaperFatalError
            When the venue refuses the token.
        """
        http = PaperHttpClient(self.config)
        delay = self.config.reconnect_initial_s
        delivered = _Delivered()
        try:
            while not self._closing:
                delivered.reconnected()
                try:
                    websocket = await http.open_stream(events=False, market=True,
                                                       symbols=self.symbols)
                    try:
                        delay = self.config.reconnect_initial_s
                        self.connected.set()
                        async for raw in websocket:
                            message = parse.decode_stream(raw)
                            if isinstance(message, BarMessage | QuoteMessage | TradeMessage):
                                item = parse.market_from_message(message)
                                if delivered.is_new(item):
                                    yield item
                            if self._closing:
                                return
                    finally:
                        self.connected.clear()
                        await websocket.close()
                except PaperFatalError as exc:
                    if exc.code == ReasonCode.UNAUTHORIZED:
                        raise
                    logger.error("paper venue market stream failed", extra={"fields": {
                        "error": str(exc)}})
                except (VenueError, ConnectionClosed, OSError) as exc:
                    logger.warning("paper venue market stream lost", extra={"fields": {
                        "error": f"{type(exc).__name__}: {exc}"}})
                if self._closing:
                    return
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)
        finally:
            await http.aclose()


__all__ = ["PaperMarketDataClient"]
