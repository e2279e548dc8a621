"""WebSocket streams of the local Binance, in the shapes ccxt.pro parses.

Paths (the production paths, on the server's port):

- ``/ws`` and ``/ws/<anything>``: spot market streams; ``/ws/<listenKey>`` with a spot listen
  key: that account's spot user data stream.
- ``/public/ws...`` and ``/market/ws...``: USD-M market streams (ccxt.pro splits them by channel);
  ``/private/ws?listenKey=<key>``: the USD-M user data stream.
- ``/ws-api/v3``: the spot WebSocket API, only ``userDataStream.subscribe.signature`` (how
  ccxt.pro subscribes to spot order updates), ``ping`` and ``time``.

Market streams take ``{"method": "SUBSCRIBE", "params": [...], "id": n}`` and answer
``{"result": null, "id": n}``. Supported streams: ``<symbol>@ticker``, ``@miniTicker``,
``@bookTicker``, ``@trade``, ``@aggTrade`` and ``@kline_<interval>``. Unlike Binance, which
pushes tickers and klines every second or two, events are pushed when something happens (a
price set or stepped, a fill) and once right after subscribing (tickers, book tickers, klines),
so tests never wait on a timer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .algo import AlgoOrder
from .errors import BinanceError
from .market import fmt
from .matching import ZERO, Order, Trade

SPOT, FUTURES = "spot", "futures"
_EIGHT = 8


@dataclass
class Connection:
    """One websocket client: what it listens to and its outgoing queue."""

    market: str
    user: bool
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    streams: set[str] = field(default_factory=set)
    api: bool = False

    def push(self, message: dict[str, Any] | list[Any]) -> None:
        """Queue a message (safe from any thread)."""
        text = json.dumps(message)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, text)


class StreamHub:
    """Websocket connections of one server and the events the model sends them.

    Parameters
    ----------
    lock : threading.RLock
        The server's lock (events are built while it is held).
    state : callable
        Returns the server's current state (market, venues); it changes on reset.
    check_signature : callable
        ``check_signature(params)`` raises BinanceError unless the WebSocket API request
        parameters are correctly signed.
    """

    def __init__(self, lock: threading.RLock, state: Callable[[], Any],
                 check_signature: Callable[[dict[str, str]], None]) -> None:
        self._lock = lock
        self._state = state
        self._check_signature = check_signature
        self.connections: list[Connection] = []

    # -- serving ----------------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one websocket connection until it closes."""
        socket = WebSocket(scope, receive, send)
        path = scope["path"]
        query = parse_qs(scope.get("query_string", b"").decode())
        with self._lock:
            connection = self._classify(path, query)
        if connection is None:
            await socket.close(code=1008)
            return
        await socket.accept()
        with self._lock:
            self.connections.append(connection)
        pump = asyncio.create_task(self._pump(socket, connection))
        try:
            while True:
                text = await socket.receive_text()
                with self._lock:
                    self._on_message(connection, text)
        except WebSocketDisconnect:
            pass
        finally:
            pump.cancel()
            with self._lock:
                if connection in self.connections:
                    self.connections.remove(connection)

    def close_all(self) -> None:
        """Forget every connection (the server is stopping)."""
        with self._lock:
            self.connections.clear()

    @staticmethod
    async def _pump(socket: WebSocket, connection: Connection) -> None:
        while True:
            await socket.send_text(await connection.queue.get())

    def _classify(self, path: str, query: dict[str, list[str]]) -> Connection | None:
        loop = asyncio.get_running_loop()
        state = self._state()
        if path == "/ws-api/v3":
            return Connection(SPOT, user=False, loop=loop, api=True)
        if path.startswith("/private/ws"):
            key = (query.get("listenKey") or [""])[0]
            if key not in state.futures.listen_keys:
                return None
            return Connection(FUTURES, user=True, loop=loop)
        if path.startswith(("/public/ws", "/market/ws")):
            return Connection(FUTURES, user=False, loop=loop)
        if path == "/ws" or path.startswith("/ws/"):
            tail = path.removeprefix("/ws").strip("/")
            return Connection(SPOT, user=tail in state.spot.listen_keys, loop=loop)
        return None

    def _on_message(self, connection: Connection, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            connection.push({"error": {"code": 3, "msg": "Invalid JSON"}})
            return
        if connection.api:
            self._api_request(connection, request)
            return
        method, ident = request.get("method"), request.get("id")
        streams = [str(s) for s in request.get("params") or []]
        if method == "SUBSCRIBE":
            connection.streams.update(streams)
            connection.push({"result": None, "id": ident})
            for stream in streams:
                self._snapshot(connection, stream)
        elif method == "UNSUBSCRIBE":
            connection.streams.difference_update(streams)
            connection.push({"result": None, "id": ident})
        elif method == "LIST_SUBSCRIPTIONS":
            connection.push({"result": sorted(connection.streams), "id": ident})
        else:
            connection.push({"error": {"code": 2, "msg": f"Invalid request: unknown method "
                                                         f"{method!r}"}, "id": ident})

    def _api_request(self, connection: Connection, request: dict[str, Any]) -> None:
        ident, method = request.get("id"), request.get("method")
        now = self._state().market.clock()
        if method == "ping":
            connection.push({"id": ident, "status": 200, "result": {}})
        elif method == "time":
            connection.push({"id": ident, "status": 200, "result": {"serverTime": now}})
        elif method == "userDataStream.subscribe.signature":
            params = {k: str(v) for k, v in (request.get("params") or {}).items()}
            try:
                self._check_signature(params)
            except BinanceError as error:
                connection.push({"id": ident, "status": error.status,
                                 "error": {"code": error.code, "msg": error.msg}})
                return
            connection.user = True
            connection.push({"id": ident, "status": 200, "result": {"subscriptionId": 0}})
        else:
            connection.push({"id": ident, "status": 400,
                             "error": {"code": -1100, "msg": f"Unknown method {method!r}."}})

    # -- events from the model --------------------------------------------------------------

    def price_changed(self, symbol: str) -> None:
        """Push tickers, book tickers and current klines of ``symbol``."""
        for connection in self.connections:
            for stream in sorted(connection.streams):
                if stream.split("@", 1)[0] == symbol.lower() and "trade" not in stream.lower():
                    self._snapshot(connection, stream)

    def order_event(self, market: str, order: Order, execution: str,
                    trade: Trade | None) -> None:
        """Push an order update to the account's user streams (and a fill to trade streams)."""
        now = self._state().market.clock()
        for connection in self.connections:
            if connection.market != market:
                continue
            if connection.user:
                if market == SPOT:
                    self._push_user(connection, self._execution_report(order, execution, trade,
                                                                        now))
                else:
                    connection.push({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
                                     "o": self._futures_order(order, execution, trade, now)})
            if trade is not None:
                for stream in sorted(connection.streams):
                    name, _, channel = stream.partition("@")
                    if name == order.symbol.lower() and channel in ("trade", "aggTrade"):
                        connection.push(self._trade(market, trade, channel, now))
        if trade is not None:
            self.price_changed(order.symbol)
            self._account_update(market, order.symbol, now)

    def algo_event(self, algo: AlgoOrder) -> None:
        """Push an ALGO_UPDATE to the USD-M user streams."""
        state = self._state()
        now = state.market.clock()
        view = state.algo.view(algo)
        body = {"caid": algo.client_algo_id, "aid": algo.algo_id, "at": "CONDITIONAL",
                "o": algo.order_type, "s": algo.symbol, "S": algo.side, "ps": "BOTH",
                "f": algo.time_in_force, "q": view["quantity"], "X": view["algoStatus"],
                "ai": view["actualOrderId"], "ap": view["actualPrice"], "aq": "0",
                "act": "0", "tp": view["triggerPrice"], "p": view["price"],
                "V": "EXPIRE_MAKER", "wt": algo.working_type, "pm": "NONE",
                "cp": algo.close_position, "pP": algo.price_protect, "R": algo.reduce_only,
                "tt": algo.trigger_time, "gtd": 0}
        for connection in self.connections:
            if connection.market == FUTURES and connection.user:
                connection.push({"e": "ALGO_UPDATE", "T": now, "E": now, "o": body})

    # -- shapes -----------------------------------------------------------------------------

    def _push_user(self, connection: Connection, event: dict[str, Any]) -> None:
        connection.push({"subscriptionId": 0, "event": event} if connection.api else event)

    def _snapshot(self, connection: Connection, stream: str) -> None:
        state = self._state()
        name, _, channel = stream.partition("@")
        symbol = name.upper()
        if symbol not in state.market.specs:
            return
        venue = state.spot if connection.market == SPOT else state.futures
        now = state.market.clock()
        if channel in ("ticker", "miniTicker"):
            row = venue.ticker_24hr({"symbol": symbol})
            connection.push(_ticker_event(row, channel, now))
        elif channel == "bookTicker":
            row = venue.book_ticker({"symbol": symbol})
            event = {"u": now, "s": symbol, "b": row["bidPrice"], "B": row["bidQty"],
                     "a": row["askPrice"], "A": row["askQty"]}
            if connection.market == FUTURES:
                event = {"e": "bookTicker", "E": now, "T": now, **event}
            connection.push(event)
        elif channel.startswith("kline_"):
            interval = channel.removeprefix("kline_")
            rows = venue.klines({"symbol": symbol, "interval": interval, "limit": "1"})
            if rows:
                o = rows[-1]
                connection.push({"e": "kline", "E": now, "s": symbol, "k": {
                    "t": o[0], "T": o[6], "s": symbol, "i": interval, "f": -1, "L": -1,
                    "o": o[1], "c": o[4], "h": o[2], "l": o[3], "v": o[5], "n": o[8],
                    "x": o[6] < now, "q": o[7], "V": o[9], "Q": o[10], "B": "0"}})

    def _trade(self, market: str, trade: Trade, channel: str, now: int) -> dict[str, Any]:
        state = self._state()
        price, qty = _prices(state, market, trade.symbol, trade.price, trade.qty)
        buyer_maker = (trade.side == "BUY") == trade.maker
        if channel == "aggTrade":
            event: dict[str, Any] = {"e": "aggTrade", "E": now, "s": trade.symbol,
                                     "a": trade.trade_id, "p": price, "q": qty,
                                     "f": trade.trade_id, "l": trade.trade_id, "T": trade.time,
                                     "m": buyer_maker}
        else:
            event = {"e": "trade", "E": now, "s": trade.symbol, "t": trade.trade_id,
                     "p": price, "q": qty, "T": trade.time, "m": buyer_maker}
        if market == SPOT:
            event["M"] = True
        else:
            event["X"] = "MARKET"
        return event

    def _execution_report(self, order: Order, execution: str, trade: Trade | None,
                          now: int) -> dict[str, Any]:
        cancelled = execution == "CANCELED"
        return {
            "e": "executionReport", "E": now, "s": order.symbol,
            "c": "" if cancelled else order.client_id, "S": order.side, "o": order.type,
            "f": order.time_in_force, "q": fmt(order.qty, _EIGHT),
            "p": fmt(order.price, _EIGHT), "P": fmt(order.stop_price, _EIGHT),
            "F": fmt(ZERO, _EIGHT), "g": -1, "C": order.client_id if cancelled else "",
            "x": execution, "X": order.status, "r": "NONE", "i": order.order_id,
            "l": fmt(trade.qty if trade else ZERO, _EIGHT),
            "z": fmt(order.executed, _EIGHT), "L": fmt(trade.price if trade else ZERO, _EIGHT),
            "n": fmt(trade.commission, _EIGHT) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": trade.time if trade else order.update_time,
            "t": trade.trade_id if trade else -1, "I": order.order_id * 2, "w": order.working,
            "m": trade.maker if trade else False, "M": False, "O": order.time,
            "Z": fmt(order.cum_quote, _EIGHT),
            "Y": fmt(trade.quote_qty if trade else ZERO, _EIGHT),
            "Q": fmt(order.quote_order_qty, _EIGHT), "W": order.working_time,
            "V": "EXPIRE_MAKER"}

    def _futures_order(self, order: Order, execution: str, trade: Trade | None,
                       now: int) -> dict[str, Any]:
        view = self._state().futures.order_view(order)
        last_price, last_qty = _prices(self._state(), FUTURES, order.symbol,
                                       trade.price if trade else ZERO,
                                       trade.qty if trade else ZERO)
        return {
            "s": order.symbol, "c": order.client_id, "S": order.side, "o": order.type,
            "f": order.time_in_force, "q": view["origQty"], "p": view["price"],
            "ap": view["avgPrice"], "sp": view["stopPrice"], "x": execution,
            "X": order.status, "i": order.order_id, "l": last_qty, "z": view["executedQty"],
            "L": last_price, "N": "USDT", "n": fmt(trade.commission if trade else ZERO, _EIGHT),
            "T": trade.time if trade else order.update_time,
            "t": trade.trade_id if trade else 0, "b": "0", "a": "0",
            "m": trade.maker if trade else False, "R": order.reduce_only,
            "wt": "CONTRACT_PRICE", "ot": order.orig_type or order.type, "ps": "BOTH",
            "cp": False, "rp": fmt(trade.realized_pnl if trade else ZERO, _EIGHT),
            "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0}

    def _account_update(self, market: str, symbol: str, now: int) -> None:
        state = self._state()
        users = [c for c in self.connections if c.market == market and c.user]
        if not users:
            return
        if market == SPOT:
            acc = state.spot.account
            spec = state.market.specs[symbol]
            event: dict[str, Any] = {"e": "outboundAccountPosition", "E": now, "u": now, "B": [
                {"a": a, "f": fmt(acc.free.get(a, ZERO), _EIGHT),
                 "l": fmt(acc.locked.get(a, ZERO), _EIGHT)} for a in (spec.base, spec.quote)]}
            for connection in users:
                self._push_user(connection, event)
            return
        acc = state.futures.account
        position = acc.positions[symbol]
        wallet = acc.wallet.get("USDT", ZERO)
        event = {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": "ORDER", "B": [
            {"a": "USDT", "wb": fmt(wallet, _EIGHT), "cw": fmt(wallet, _EIGHT),
             "bc": "0"}], "P": [
            {"s": symbol, "pa": state.futures.qty_text(symbol, position.amount),
             "ep": state.futures.price_text(symbol, position.entry),
             "bep": state.futures.price_text(symbol, position.entry), "cr": "0",
             "up": fmt(acc.unrealized(symbol), _EIGHT), "mt": "cross", "iw": "0",
             "ps": "BOTH"}]}}
        for connection in users:
            connection.push(event)


def _prices(state: Any, market: str, symbol: str, price: Decimal,
            qty: Decimal) -> tuple[str, str]:
    if market == SPOT:
        return fmt(price, _EIGHT), fmt(qty, _EIGHT)
    return state.futures.price_text(symbol, price), state.futures.qty_text(symbol, qty)


def _ticker_event(row: dict[str, Any], channel: str, now: int) -> dict[str, Any]:
    event = {"e": "24hrMiniTicker" if channel == "miniTicker" else "24hrTicker", "E": now,
             "s": row["symbol"], "c": row["lastPrice"], "o": row["openPrice"],
             "h": row["highPrice"], "l": row["lowPrice"], "v": row["volume"],
             "q": row["quoteVolume"]}
    if channel == "ticker":
        event.update({"p": row["priceChange"], "P": row["priceChangePercent"],
                      "w": row["weightedAvgPrice"], "Q": row["lastQty"], "O": row["openTime"],
                      "C": row["closeTime"], "F": row["firstId"], "L": row["lastId"],
                      "n": row["count"]})
        if "bidPrice" in row:
            event.update({"x": row["prevClosePrice"], "b": row["bidPrice"], "B": row["bidQty"],
                          "a": row["askPrice"], "A": row["askQty"]})
    return event
