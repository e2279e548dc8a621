"""Schwab's market data (:class:`SchwabMarketDataClient`): quotes from the streamer, bars from
price history.

The streamer's address and the ids its login needs come from ``GET /trader/v1/userPreference``
(``streamerInfo``); it is opened with the first subscription. The websocket takes
``ADMIN``/``LOGIN`` with the access token, then ``SUBS`` of ``LEVELONE_EQUITIES`` (options:
``LEVELONE_OPTIONS``) with the keys and fields wanted. Level-one messages carry only the
fields that changed: the client keeps each symbol's last bid, ask and sizes and emits a
:class:`~tradeloop.model.data.QuoteTick` when they change, stamped with Schwab's quote time.
A lost connection is opened again with backoff, logged in with a fresh token and subscribed
again; a login that cannot be renewed ends :meth:`stream` with
:class:`~.errors.SchwabLoginError` (logged once), which stops a node that trades on this data.

Schwab streams neither single trades nor ready-made bars here: a node builds bars from the
quotes (``capabilities.bars`` is False). :meth:`SchwabMarketDataClient.historical_bars` pages
``GET /marketdata/v1/pricehistory`` (1, 5, 10, 15 and 30 minute candles, daily candles).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tradeloop.brokers.base import StreamQueue, cancel_tasks
from tradeloop.brokers.schwab import parse
from tradeloop.brokers.schwab.client import SchwabClient
from tradeloop.brokers.schwab.errors import (
    SchwabFatalError,
    SchwabLoginError,
    SchwabRetryableError,
)
from tradeloop.brokers.schwab.orders import is_option
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick

logger = logging.getLogger(__name__)

EQUITIES, OPTIONS = "LEVELONE_EQUITIES", "LEVELONE_OPTIONS"
#: Field numbers of the level-one services: bid, ask, bid size, ask size, quote time (ms).
FIELDS = {EQUITIES: {"bid": 1, "ask": 2, "bid_size": 4, "ask_size": 5, "quote_time": 34},
          OPTIONS: {"bid": 2, "ask": 3, "bid_size": 16, "ask_size": 17, "quote_time": 38}}
#: Bar lengths Schwab's price history has: seconds -> (frequencyType, frequency).
HISTORY = {60: ("minute", 1), 300: ("minute", 5), 600: ("minute", 10), 900: ("minute", 15),
           1800: ("minute", 30), 86_400: ("daily", 1)}
DAY_MS = 86_400_000


def service_of(symbol: str) -> str:
    """The level-one service that streams ``symbol``."""
    return OPTIONS if is_option(symbol) else EQUITIES


class SchwabMarketDataClient:
    """Quotes and price history of Schwab.

    Parameters
    ----------
    client : SchwabClient
        Shared with the execution client.
    capabilities : VenueCapabilities
    """

    def __init__(self, client: SchwabClient, capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config = client.config
        self.venue = self.config.venue
        self.capabilities = capabilities
        self._queue = StreamQueue()
        self._subs: dict[str, list[str]] = {EQUITIES: [], OPTIONS: []}
        self._fields: dict[str, dict[str, float]] = {}
        self._last: dict[str, QuoteTick] = {}
        self._socket: ClientConnection | None = None
        self._info: dict[str, Any] = {}
        self._replies: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._opening = False
        self._connected = False
        #: Why the stream ended, when a login could not be renewed.
        self.error: SchwabLoginError | None = None
        #: Streamer connections lost and opened again.
        self.reconnects = 0

    # -- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Check the saved login and open the connection; the streamer opens with the first
        subscription (a history download never needs it).

        Raises
        ------
        SchwabLoginError
            No usable login.
        """
        if self._connected:
            return
        self.client.tokens.check()
        await self.client.open()
        self._connected = True

    async def _start_streamer(self) -> None:
        """Open the streamer, log in and start reading (once).

        Raises
        ------
        SchwabLoginError, SchwabRetryableError
        """
        if self._task is not None:
            return
        await self._open_session()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="schwab-stream")

    async def disconnect(self) -> None:
        """Close the streamer; :meth:`stream` ends."""
        task, self._task = self._task, None
        await cancel_tasks(task)
        await self._close_socket()
        if self._connected:
            self._connected = False
            await self.client.close()
        self._queue.close()
        self._queue = StreamQueue()

    def stream(self) -> AsyncIterator[MarketData]:
        """The quotes as they arrive, until :meth:`disconnect` (or a login that cannot be
        renewed: then :class:`SchwabLoginError` is raised after the last quote)."""
        return self._items(self._queue)

    async def _items(self, queue: StreamQueue) -> AsyncIterator[MarketData]:
        async for item in queue.items():
            yield item
        if self.error is not None:
            raise self.error

    # -- subscriptions ------------------------------------------------------------------------

    async def subscribe_quotes(self, symbol: str) -> None:
        """Start the bid and ask of ``symbol`` (a snapshot arrives first)."""
        service = service_of(symbol)
        if symbol in self._subs[service]:
            return
        self._subs[service].append(symbol)
        if self._task is None:
            await self._start_streamer()  # subscribes what is wanted as it opens
            return
        await self._subscribe(service)

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        service = service_of(symbol)
        if symbol not in self._subs[service]:
            return
        self._subs[service].remove(symbol)
        self._fields.pop(symbol, None)
        if self._socket is not None:
            await self._request(service, "UNSUBS", {"keys": symbol})

    async def subscribe_trades(self, symbol: str) -> None:
        """Schwab streams no single trades here.

        Raises
        ------
        ConfigError
        """
        raise ConfigError(f"Schwab streams no trades of {symbol}: ask for its quotes or bars")

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Nothing to stop."""

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Schwab streams no bars here (a node builds them from quotes).

        Raises
        ------
        ConfigError
        """
        raise ConfigError(f"Schwab streams no {timeframe} bars of {symbol}: a node builds "
                          "them from its quotes")

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Nothing to stop."""

    # -- history ------------------------------------------------------------------------------

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars that open in ``[start_ns, end_ns)``, oldest first.

        Raises
        ------
        ConfigError
            A bar length Schwab's price history does not have, or an unknown symbol.
        """
        frame = parse_timeframe(timeframe)
        found = HISTORY.get(frame.ns // 1_000_000_000) if frame.ns % 1_000_000_000 == 0 \
            else None
        if found is None:
            raise ConfigError(f"Schwab has no {frame.label} bars (it has 1m, 5m, 10m, 15m, "
                              "30m and 1d)")
        kind, frequency = found
        daily = kind == "daily"
        chunk_ms = (3650 if daily else self.config.history_chunk_days) * DAY_MS
        start_ms = start_ns // 1_000_000
        end_ms = -(-end_ns // 1_000_000) + (DAY_MS if daily else 0)
        candles: list[dict[str, Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            upper = min(cursor + chunk_ms, end_ms)
            try:
                answer = await self.client.price_history({
                    "symbol": symbol, "periodType": "year" if daily else "day",
                    "frequencyType": kind, "frequency": frequency, "startDate": cursor,
                    "endDate": upper - 1, "needExtendedHoursData": "false",
                    "needPreviousClose": "false"})
            except SchwabFatalError as exc:
                raise ConfigError(f"Schwab price history of {symbol}: {exc.reason}") from None
            candles += [c for c in answer.get("candles") or [] if isinstance(c, dict)]
            cursor = upper
        bars = parse.bars_from_candles(candles, symbol, frame.ns, daily,
                                       f"schwab:{symbol}:{frame.label}")
        complete_before = time.time_ns() - frame.ns
        keep = (bars.ts >= start_ns) & (bars.ts < end_ns) & (bars.ts <= complete_before)
        return BarSeries(symbol, bars.ts[keep], bars.open[keep], bars.high[keep],
                         bars.low[keep], bars.close[keep], bars.volume[keep],
                         timeframe_ns=frame.ns, source=bars.source)

    # -- the streamer -------------------------------------------------------------------------

    async def _open_session(self) -> None:
        self._opening = True
        try:
            await self._start_session()
        finally:
            self._opening = False

    async def _start_session(self) -> None:
        preferences = await self.client.user_preference()
        infos = preferences.get("streamerInfo") or []
        if not infos or not isinstance(infos[0], dict):
            raise SchwabFatalError("NO_STREAMER", "Schwab's user preferences name no streamer")
        self._info = infos[0]
        url = str(self._info.get("streamerSocketUrl", ""))
        for attempt in (1, 2):
            token = await self.client.tokens.access_token(self.client.http)
            try:
                self._socket = await websockets.connect(
                    url, open_timeout=self.config.timeout_s, max_size=2**22)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                raise SchwabRetryableError("STREAMER", f"cannot open Schwab's streamer: "
                                           f"{type(exc).__name__}") from None
            code, message = await self._login(token)
            if code == 0:
                break
            await self._close_socket()
            if attempt == 2 or code != 3:
                raise SchwabLoginError.expired(None, f"Schwab's streamer refused the login: "
                                               f"{message}")
            await self.client.tokens.renew(self.client.http, token)
        for service, keys in self._subs.items():
            if keys:
                await self._subscribe(service)

    async def _login(self, token: str) -> tuple[int, str]:
        assert self._socket is not None
        ident = str(next(self._ids))
        await self._socket.send(json.dumps({"requests": [self._base(ident, "ADMIN", "LOGIN", {
            "Authorization": token,
            "SchwabClientChannel": self._info.get("schwabClientChannel", ""),
            "SchwabClientFunctionId": self._info.get("schwabClientFunctionId", "")})]}))
        deadline = time.monotonic() + self.config.timeout_s
        while time.monotonic() < deadline:
            try:
                text = await asyncio.wait_for(self._socket.recv(), self.config.timeout_s)
            except (TimeoutError, websockets.WebSocketException) as exc:
                raise SchwabRetryableError("STREAMER", f"no answer to the streamer login: "
                                           f"{type(exc).__name__}") from None
            for reply in json.loads(text).get("response") or []:
                if str(reply.get("requestid")) == ident:
                    content = reply.get("content") or {}
                    return int(content.get("code", -1)), str(content.get("msg", ""))
        raise SchwabRetryableError("STREAMER", "no answer to the streamer login")

    def _base(self, ident: str, service: str, command: str, parameters: dict[str, Any]
              ) -> dict[str, Any]:
        return {"service": service, "command": command, "requestid": ident,
                "SchwabClientCustomerId": self._info.get("schwabClientCustomerId", ""),
                "SchwabClientCorrelId": self._info.get("schwabClientCorrelId", ""),
                "parameters": parameters}

    async def _subscribe(self, service: str) -> None:
        if self._socket is None:
            return
        numbers = sorted({0, *FIELDS[service].values()})
        await self._request(service, "SUBS", {"keys": ",".join(self._subs[service]),
                                              "fields": ",".join(map(str, numbers))})

    async def _request(self, service: str, command: str, parameters: dict[str, Any]) -> None:
        socket = self._socket
        if socket is None:
            return
        ident = str(next(self._ids))
        reply: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = reply
        try:
            await socket.send(json.dumps({"requests": [self._base(ident, service, command,
                                                                  parameters)]}))
            if self._opening:  # the reader is not running yet: read here until the answer
                await asyncio.wait_for(self._read_until(socket, reply), self.config.timeout_s)
            code, message = await asyncio.wait_for(reply, self.config.timeout_s)
        except (TimeoutError, websockets.WebSocketException):
            logger.warning("no answer from Schwab's streamer; kept for the next session",
                           extra={"fields": {"service": service, "command": command}})
            return
        finally:
            self._replies.pop(ident, None)
        if code != 0:
            raise SchwabFatalError("STREAMER", f"{service} {command}: {message}")

    async def _read_until(self, socket: ClientConnection,
                          reply: asyncio.Future[tuple[int, str]]) -> None:
        while not reply.done():
            self._on_message(await socket.recv())

    async def _close_socket(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()

    async def _run(self) -> None:
        delay = self.config.reconnect_initial_s
        while True:
            socket = self._socket
            if socket is not None:
                try:
                    async for text in socket:
                        self._on_message(text)
                    delay = self.config.reconnect_initial_s
                except websockets.WebSocketException:
                    pass
                logger.warning("Schwab streamer connection lost; opening it again")
                self._socket = None
                self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)
            try:
                await self._open_session()
            except SchwabLoginError as exc:
                logger.error("Schwab login lost: the quote stream ends", extra={"fields": {
                    "error": str(exc)}})
                self.error = exc
                self._queue.close()
                return
            except (VenueError, ConfigError) as exc:
                logger.warning("Schwab streamer not back yet", extra={"fields": {
                    "error": str(exc)}})

    def _on_message(self, text: str | bytes) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        for reply in message.get("response") or []:
            waiting = self._replies.get(str(reply.get("requestid")))
            content = reply.get("content") or {}
            if waiting is not None and not waiting.done():
                waiting.set_result((int(content.get("code", -1)), str(content.get("msg", ""))))
        for block in message.get("data") or []:
            service = block.get("service")
            if service in FIELDS:
                for item in block.get("content") or []:
                    self._on_quote(service, item)

    def _on_quote(self, service: str, item: dict[str, Any]) -> None:
        symbol = str(item.get("key", ""))
        if symbol not in self._subs[service]:
            return
        state = self._fields.setdefault(symbol, {})
        for name, number in FIELDS[service].items():
            value = item.get(str(number))
            if isinstance(value, int | float) and not isinstance(value, bool):
                state[name] = float(value)
        if "bid" not in state or "ask" not in state:
            return
        stamp = int(state.get("quote_time", 0)) * 1_000_000 or time.time_ns()
        quote = parse.quote_tick(symbol, state, stamp)
        previous = self._last.get(symbol)
        if previous is not None:
            if quote[2:] == previous[2:]:
                return
            if quote.ts < previous.ts:
                quote = quote._replace(ts=previous.ts)
        self._last[symbol] = quote
        self._queue.put(quote)


__all__ = ["EQUITIES", "FIELDS", "HISTORY", "OPTIONS", "SchwabMarketDataClient",
           "service_of"]
