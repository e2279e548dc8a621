"""cTrader market data (:class:`CtraderMarketDataClient`): spot quotes and trendbar history.

* Quotes from ``ProtoOASubscribeSpotsReq``: each ``ProtoOASpotEvent`` carries the sides that
  changed (prices in 1/100000), so the last bid and ask are kept and a quote is made of both.
  The first event after subscribing holds the current prices.
* cTrader streams no trades and no finished bars (its live trendbar is the bar still forming),
  so the node builds bars from the quotes (capabilities ``trades`` and ``bars`` are off).
* History from ``ProtoOAGetTrendbarsReq``: a range is split into the spans the reference
  allows per period, a span answered with ``hasMore`` is asked again for what is missing, and
  each trendbar (low plus deltas to open, high and close) becomes a bar.

Subscriptions survive a reconnection: the client subscribes again once the account is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from tradeloop.brokers.base import StreamQueue
from tradeloop.brokers.ctrader import parse
from tradeloop.brokers.ctrader.client import CtraderClient, Incoming
from tradeloop.brokers.ctrader.errors import CtraderFatalError
from tradeloop.brokers.ctrader.messages import (
    PT,
    TRENDBAR_MAX_SPAN_MS,
    TRENDBAR_MINUTES,
    TrendbarPeriod,
)
from tradeloop.brokers.ctrader.symbols import SymbolBook
from tradeloop.core.errors import ConfigError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick

logger = logging.getLogger(__name__)

#: Bar length in minutes -> cTrader's trendbar period.
PERIODS: dict[int, TrendbarPeriod] = {v: k for k, v in TRENDBAR_MINUTES.items()}
_MAX_REQUESTS = 100_000
Row = tuple[int, float, float, float, float, float]


def period_of(timeframe: str) -> TrendbarPeriod:
    """cTrader's trendbar period of a timeframe.

    Raises
    ------
    ConfigError
        A length cTrader has no trendbars of.
    """
    tf = parse_timeframe(timeframe)
    minutes, rest = divmod(tf.ns, parse.NS_PER_MINUTE)
    found = PERIODS.get(int(minutes)) if not rest else None
    if found is None:
        known = ", ".join(parse_timeframe(m * parse.NS_PER_MINUTE).label for m in PERIODS)
        raise ConfigError(f"timeframe {timeframe!r}: cTrader's trendbars are {known}")
    return found


def spans(start_ms: int, end_ms: int, period: TrendbarPeriod) -> list[tuple[int, int]]:
    """``[start, end)`` in ms split into the spans one trendbar request may cover."""
    step = TRENDBAR_MAX_SPAN_MS[period]
    out = []
    at = start_ms
    while at < end_ms:
        out.append((at, min(end_ms, at + step)))
        at += step
    return out


class CtraderMarketDataClient:
    """Quotes and history from cTrader.

    Parameters
    ----------
    client : CtraderClient
        Shared with the execution client.
    book : SymbolBook
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: CtraderClient, book: SymbolBook,
                 capabilities: VenueCapabilities, venue: str = "CTRADER") -> None:
        self.client = client
        self.book = book
        self.capabilities = capabilities
        self.venue = venue
        self._queue = StreamQueue()
        self._quotes: dict[int, str] = {}  # symbol id -> symbol
        self._last: dict[int, tuple[int | None, int | None]] = {}
        self._last_ts: dict[int, int] = {}
        self._connected = False
        client.subscribe(self._on_message)
        client.on_ready(self._on_ready)

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (shared with the execution client)."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True
        self._queue = StreamQueue()

    async def disconnect(self) -> None:
        """Release the connection; the stream ends."""
        if not self._connected:
            return
        self._connected = False
        self._quotes.clear()
        self._last.clear()
        self._queue.close()
        await self.client.close()

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed quotes as they arrive."""
        return self._queue.items()

    # -- subscriptions --------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Stream the bid and ask of ``symbol``.

        Raises
        ------
        ConfigError
            A symbol the account does not list.
        """
        info = await self.book.info(symbol)
        if info.symbol_id in self._quotes:
            return
        self._quotes[info.symbol_id] = info.name
        try:
            await self._subscribe([info.symbol_id])
        except BaseException:
            self._quotes.pop(info.symbol_id, None)
            raise

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        info = await self.book.info(symbol)
        if self._quotes.pop(info.symbol_id, None) is None:
            return
        self._last.pop(info.symbol_id, None)
        if self.client.connected:
            await self.client.request(PT.UNSUBSCRIBE_SPOTS_REQ, {"symbolId": [info.symbol_id]})

    async def subscribe_trades(self, symbol: str) -> None:
        """cTrader publishes no trades.

        Raises
        ------
        ConfigError
            Always.
        """
        raise ConfigError(f"{symbol}: cTrader streams no trades; subscribe to quotes")

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Nothing to stop."""

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """cTrader streams no finished bars.

        Raises
        ------
        ConfigError
            Always: the node builds bars from the quotes instead.
        """
        raise ConfigError(f"{symbol}@{timeframe}: cTrader streams no finished bars; the node "
                          "builds them from its quotes")

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Nothing to stop."""

    async def _subscribe(self, symbol_ids: list[int]) -> None:
        try:
            await self.client.request(PT.SUBSCRIBE_SPOTS_REQ, {
                "symbolId": symbol_ids, "subscribeToSpotTimestamp": True})
        except CtraderFatalError as exc:
            if exc.code != "ALREADY_SUBSCRIBED":  # the session kept them: nothing to do
                raise

    async def _on_ready(self, reconnected: bool) -> None:
        """Subscribe again after the account was authorised again (cTrader forgot)."""
        if not self._connected or not self._quotes:
            return
        self._last.clear()
        await self._subscribe(list(self._quotes))
        logger.info("cTrader spots subscribed again", extra={"fields": {
            "symbols": sorted(self._quotes.values())}})

    def _on_message(self, message: Incoming) -> None:
        if message.payload_type != PT.SPOT_EVENT:
            return
        body = message.body
        symbol_id = int(body.get("symbolId", 0))
        symbol = self._quotes.get(symbol_id)
        info = self.book.known(symbol_id)
        if symbol is None or info is None:
            return
        bid, ask = self._last.get(symbol_id, (None, None))
        bid = int(body["bid"]) if body.get("bid") else bid
        ask = int(body["ask"]) if body.get("ask") else ask
        self._last[symbol_id] = (bid, ask)
        if bid is None or ask is None:
            return
        stamp = parse.ms_to_ns(body.get("timestamp")) or time.time_ns()
        stamp = max(stamp, self._last_ts.get(symbol_id, 0))
        self._last_ts[symbol_id] = stamp
        self._queue.put(QuoteTick(symbol, stamp, float(parse.scaled_price(bid, info.digits)),
                                  float(parse.scaled_price(ask, info.digits))))

    # -- history ----------------------------------------------------------------------------------

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars opening in ``[start_ns, end_ns)``, oldest first, in as many requests
        as cTrader's limits need.

        Raises
        ------
        ConfigError
            An unknown symbol or a timeframe cTrader has no trendbars of.
        """
        period = period_of(timeframe)
        info = await self.book.info(symbol)
        length_ns = TRENDBAR_MINUTES[period] * parse.NS_PER_MINUTE
        complete_before = time.time_ns() - length_ns
        rows: dict[int, Row] = {}
        start_ms = -(-start_ns // parse.NS_PER_MS)
        end_ms = -(-end_ns // parse.NS_PER_MS)
        todo = spans(start_ms, end_ms, period)
        for _ in range(_MAX_REQUESTS):
            if not todo:
                break
            lo, hi = todo.pop(0)
            got, more = await self._trendbars(info, period, lo, hi)
            for row in got:
                if start_ns <= row[0] < end_ns and row[0] <= complete_before:
                    rows[row[0]] = row
            if more and got:  # ask again for what this answer left out, at both ends
                first = min(r[0] for r in got) // parse.NS_PER_MS
                last = max(r[0] for r in got) // parse.NS_PER_MS
                if last + 1 < hi:
                    todo.insert(0, (last + 1, hi))
                if first > lo:
                    todo.insert(0, (lo, first))
        stamps = sorted(rows)
        table = np.array([rows[t][1:] for t in stamps], dtype=np.float64).reshape(-1, 5)
        return BarSeries(symbol, np.array(stamps, dtype=np.int64), table[:, 0].copy(),
                         table[:, 1].copy(), table[:, 2].copy(), table[:, 3].copy(),
                         table[:, 4].copy(), timeframe_ns=length_ns,
                         source=f"ctrader:{symbol}:{period.name}")

    async def _trendbars(self, info: parse.SymbolInfo, period: TrendbarPeriod, lo: int,
                         hi: int) -> tuple[list[Row], bool]:
        answer = await self.client.request(PT.GET_TRENDBARS_REQ, {
            "fromTimestamp": lo, "toTimestamp": hi, "period": period,
            "symbolId": info.symbol_id})
        body: dict[str, Any] = answer.body
        rows = [parse.trendbar_row(bar, info.digits) for bar in body.get("trendbar", [])]
        return rows, bool(body.get("hasMore"))


__all__ = ["PERIODS", "CtraderMarketDataClient", "period_of", "spans"]
