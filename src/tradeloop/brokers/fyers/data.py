"""Fyers market data (:class:`FyersMarketDataClient`).

* Quotes and trades from the v3 data socket (:mod:`.hsm`): a symbol's topic is made from the
  fyToken Fyers' ``/data/symbol-token`` gives for it; every update that changes the best bid
  or ask becomes a ``QuoteTick``, every one that changes the day's volume or the last trade
  time a ``TradeTick``. Fyers streams no bars: a node builds them from the quotes.
* Without websockets, quotes come from polling ``/data/quotes``.
* History from ``/data/history`` (:mod:`.history`).

Times are the exchange's feed time (whole seconds), never going back for a symbol.
Subscriptions survive a reconnection: they are made again once the socket is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from tradeloop.brokers.base import StreamQueue, cancel_tasks
from tradeloop.brokers.fyers import hsm
from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.brokers.fyers.errors import FyersFatalError, FyersRetryableError
from tradeloop.brokers.fyers.history import Progress, fetch_bars
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick, TradeTick

logger = logging.getLogger(__name__)
PING_S = 10.0


class FyersMarketDataClient:
    """Quotes, trades and history from Fyers.

    Parameters
    ----------
    client : FyersClient
        Shared with the execution client.
    capabilities : VenueCapabilities
    """

    def __init__(self, client: FyersClient, capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config = client.config
        self.venue = self.config.venue
        self.capabilities = capabilities
        self._queue = StreamQueue()
        self._quotes: set[str] = set()
        self._trades: set[str] = set()
        self._topics: dict[str, str] = {}  # symbol -> topic
        self._symbols: dict[str, str] = {}  # topic -> symbol
        self._live: set[str] = set()  # topics subscribed on the current connection
        self._last_quote: dict[str, tuple[float, float]] = {}
        self._last_trade: dict[str, tuple[float, float]] = {}
        self._last_ts: dict[str, int] = {}
        self._decoder = hsm.Decoder()
        self._socket: ClientConnection | None = None
        self._waiters: dict[int, list[asyncio.Future[hsm.Answer]]] = {}
        self._send_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._ack_every = 0
        self._task: asyncio.Task[None] | None = None
        self._open = False
        #: Data frames received so far, and connections opened.
        self.frames = 0
        self.connections = 0

    # -- connection ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the session; the data socket opens with the first subscription (a history
        download never needs it).

        Raises
        ------
        FyersTokenError
            No usable login.
        """
        if self._open:
            return
        await self.client.open()
        self._open = True
        if not self.config.use_websockets:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="fyers-poll")

    async def _socket_up(self) -> None:
        # start the data socket if needed and wait until it is authenticated (a dead token:
        # FyersTokenError; too slow: FyersRetryableError)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fyers-data")
        try:
            await asyncio.wait_for(self._ready.wait(), self.config.timeout_s)
        except TimeoutError:
            await self.client.check_token()
            raise FyersRetryableError("the Fyers data socket did not come up in time; it "
                                      "keeps trying") from None

    async def disconnect(self) -> None:
        """Close the socket and the session; the stream ends."""
        await cancel_tasks(self._task)
        self._task = None
        if self._open:
            self._open = False
            await self.client.close()
        self._queue.close()

    def stream(self) -> AsyncIterator[MarketData]:
        """Quotes and trades as they arrive."""
        return self._queue.items()

    # -- subscriptions -------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Stream the best bid and offer of ``symbol`` (returns once Fyers confirmed)."""
        await self._want(symbol, self._quotes)

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        self._quotes.discard(symbol)
        await self._unwant(symbol)

    async def subscribe_trades(self, symbol: str) -> None:
        """Stream the trades of ``symbol``."""
        await self._want(symbol, self._trades)

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        self._trades.discard(symbol)
        await self._unwant(symbol)

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Fyers streams no bars (a node builds them from quotes)."""
        raise FyersFatalError("Fyers streams no bars: subscribe to quotes and build bars from "
                              "them (a node does so for SYMBOL@1m by itself)")

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Nothing to stop."""

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int, end_ns: int,
                              progress: Progress | None = None) -> BarSeries:
        """Complete bars that open in ``[start_ns, end_ns)``, oldest first, split into the
        requests Fyers allows (see :mod:`.history`)."""
        return await fetch_bars(self.client, symbol, timeframe, start_ns, end_ns, progress)

    async def _want(self, symbol: str, kind: set[str]) -> None:
        topic = await self._topic(symbol)
        fresh = symbol not in kind
        kind.add(symbol)  # before the snapshot arrives
        try:
            if self.config.use_websockets and not self._ready.is_set():
                await self._socket_up()  # subscribes what is wanted, this one included
            if self.config.use_websockets and topic not in self._live:
                await self._subscribe([topic])
            elif topic in self._live:  # already streaming: what is known now comes first
                for state in self._decoder.topics.values():
                    if state.name == topic:
                        self._emit(state)
        except BaseException:
            if fresh:
                kind.discard(symbol)
            raise

    async def _unwant(self, symbol: str) -> None:
        if symbol in self._quotes or symbol in self._trades:
            return
        topic = self._topics.get(symbol)
        if topic and topic in self._live and self._socket is not None:
            self._live.discard(topic)
            await self._request(hsm.UNSUBSCRIBE, hsm.unsubscribe_request([topic]))

    async def _topic(self, symbol: str) -> str:
        found = self._topics.get(symbol)
        if found is not None:
            return found
        answer = await self.client.request("POST", "/data/symbol-token", f"symbol {symbol}",
                                           body={"symbols": [symbol]})
        fytoken = (answer.get("validSymbol") or {}).get(symbol)
        if not fytoken:
            raise ConfigError(f"Fyers does not list {symbol!r}")
        try:
            topic = hsm.topic_of(str(fytoken))
        except ValueError as exc:
            raise ConfigError(f"{symbol}: {exc}") from None
        self._topics[symbol], self._symbols[topic] = topic, symbol
        return topic

    # -- the socket ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.config.reconnect_initial_s
        while True:
            try:
                if self.client.refused:
                    await self.client.check_token()
                await self._session()
                delay = self.config.reconnect_initial_s
            except asyncio.CancelledError:
                raise
            except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
                logger.warning("fyers data socket lost", extra={"fields": {
                    "error": f"{type(exc).__name__}: {exc}"}})
            except VenueError as exc:
                logger.warning("fyers data socket waits", extra={"fields": {"error": str(exc)}})
                delay = self.config.reconnect_max_s
            finally:
                self._ready.clear()
                self._socket = None
                self._live.clear()
                for waiters in self._waiters.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(FyersRetryableError("data socket closed"))
                self._waiters.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _session(self) -> None:
        async with connect(self.config.data_socket_url, open_timeout=self.config.timeout_s,
                           proxy=True if self.config.use_system_proxy else None,
                           max_size=None) as socket:
            self._socket = socket
            self._decoder.reset()
            reader = asyncio.get_running_loop().create_task(self._read(socket))
            pinger = asyncio.get_running_loop().create_task(self._ping(socket))
            try:
                hsm_key = self.client.tokens.hsm_key
                auth = await self._request(hsm.AUTH, hsm.auth_request(hsm_key))
                if not auth.ok:
                    await self._probe_token()
                    raise FyersRetryableError("the data socket refused the token")
                self._ack_every = auth.ack_every
                await self._request(hsm.MODE, hsm.mode_request())
                self.connections += 1
                wanted = sorted({self._topics[s] for s in self._quotes | self._trades
                                 if s in self._topics})
                if wanted:
                    await self._subscribe(wanted)
                self._ready.set()
                await reader
            finally:
                await cancel_tasks(reader, pinger)

    async def _subscribe(self, topics: list[str]) -> None:
        answer = await self._request(hsm.SUBSCRIBE, hsm.subscribe_request(topics))
        if not answer.ok:
            raise FyersFatalError(f"Fyers refused the subscription to {', '.join(topics)}")
        self._live.update(topics)

    async def _request(self, kind: int, frame: bytes) -> hsm.Answer:
        socket = self._socket
        if socket is None:
            raise FyersRetryableError("the data socket is not connected")
        waiter: asyncio.Future[hsm.Answer] = asyncio.get_running_loop().create_future()
        async with self._send_lock:
            self._waiters.setdefault(kind, []).append(waiter)
            await socket.send(frame)
        return await asyncio.wait_for(waiter, self.config.timeout_s)

    async def _read(self, socket: ClientConnection) -> None:
        count = 0
        async for frame in socket:
            if not isinstance(frame, bytes):
                continue
            decoded = self._decoder.decode(frame)
            if isinstance(decoded, hsm.Answer):
                waiters = self._waiters.get(decoded.kind) or []
                if waiters:
                    waiter = waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(decoded)
            elif isinstance(decoded, hsm.DataFrame):
                self.frames += 1
                count += 1
                for state in decoded.changed:
                    self._emit(state)
                every = self._ack_every
                if every and count % every == 0:
                    await socket.send(hsm.ack_request(decoded.number))

    @staticmethod
    async def _ping(socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(PING_S)
            await socket.send(hsm.PING)

    async def _probe_token(self) -> None:
        with contextlib.suppress(VenueError):
            await self.client.request("GET", "/api/v3/profile", "profile")

    # -- what arrives ----------------------------------------------------------------------

    def _emit(self, state: hsm.TopicState) -> None:
        symbol = self._symbols.get(state.name)
        if symbol is None:
            return
        feed = state.values.get("exch_feed_time") or int(time.time())
        ts = max(int(feed) * NANOS_PER_SECOND, self._last_ts.get(symbol, 0))
        self._last_ts[symbol] = ts
        if symbol in self._quotes:
            bid, ask = state.value("bid_price"), state.value("ask_price")
            if bid is not None and ask is not None and self._last_quote.get(symbol) != (bid, ask):
                self._last_quote[symbol] = (bid, ask)
                self._queue.put(QuoteTick(symbol, ts, bid, ask,
                                          state.value("bid_size") or 0.0,
                                          state.value("ask_size") or 0.0))
        if symbol in self._trades:
            volume, at = state.value("vol_traded_today"), state.value("last_traded_time")
            price = state.value("ltp")
            mark = (volume or 0.0, at or 0.0)
            if price and self._last_trade.get(symbol) not in (None, mark):
                size = state.value("last_traded_qty") or 0.0
                trade_ts = max(int(at or 0) * NANOS_PER_SECOND, ts) if at else ts
                self._queue.put(TradeTick(symbol, trade_ts, price, size))
            self._last_trade[symbol] = mark

    async def _poll(self) -> None:
        while True:
            symbols = sorted(self._quotes | self._trades)
            if symbols:
                try:
                    await self._poll_once(symbols)
                except asyncio.CancelledError:
                    raise
                except VenueError as exc:
                    logger.warning("fyers quote poll failed", extra={"fields": {
                        "error": str(exc)}})
            await asyncio.sleep(self.config.poll_interval_s)

    async def _poll_once(self, symbols: list[str]) -> None:
        for k in range(0, len(symbols), 50):
            batch = symbols[k:k + 50]
            answer = await self.client.request("GET", "/data/quotes", "quotes",
                                               params={"symbols": ",".join(batch)})
            for item in answer.get("d") or ():
                values: dict[str, Any] = item.get("v") or {}
                symbol = str(item.get("n") or "")
                if item.get("s") != "ok" or symbol not in batch:
                    continue
                state = hsm.TopicState(symbol, multiplier=1, precision=0)
                for ours, theirs in (("bid_price", "bid"), ("ask_price", "ask"),
                                     ("ltp", "lp"), ("vol_traded_today", "volume"),
                                     ("exch_feed_time", "tt")):
                    if values.get(theirs) is not None:
                        state.values[ours] = float(values[theirs])
                self._symbols.setdefault(symbol, symbol)
                self._emit(state)


__all__ = ["FyersMarketDataClient"]
