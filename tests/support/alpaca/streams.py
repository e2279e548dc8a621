"""The websockets of the local Alpaca, in the shapes alpaca-py's streams read.

* ``/stream``: the trading stream. ``{"action": "authenticate", "data": {"key_id",
  "secret_key"}}`` is answered on the ``authorization`` stream (``authorized`` or
  ``unauthorized``, then closed), ``{"action": "listen", "data": {"streams":
  ["trade_updates"]}}`` on the ``listening`` stream; then every order change arrives as
  ``{"stream": "trade_updates", "data": {"event", "order", "timestamp", ...}}`` with
  ``execution_id``, ``price``, ``qty`` and ``position_qty`` on fills. Frames are binary, as on
  Alpaca's paper endpoint.
* ``/v2/{iex,sip,test}`` and ``/v1beta3/crypto/us``: market data. MessagePack arrays: the
  ``success``/``connected`` greeting, ``{"action": "auth", "key", "secret"}`` answered with
  ``authenticated`` (or error 402 and a close), ``subscribe``/``unsubscribe`` of ``trades``,
  ``quotes`` and ``bars`` answered with the ``subscription`` message; then ``q``, ``t`` and
  ``b`` messages whose ``t`` is a MessagePack timestamp.

Items are pushed when something happens (a quote set, a fill, a bar published), never on a
timer, so tests need no sleeps: subscribe, wait until :meth:`StreamHub.subscribed` says so,
then act.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgpack
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .account import iso_ns, plain
from .trading import Fill, Order

TRADING, STOCKS, CRYPTO = "trading", "stocks", "crypto"
CHANNELS = ("trades", "quotes", "bars")
Keys = Callable[[], dict[str, str]]


@dataclass
class Connection:
    """One websocket client."""

    kind: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    authorized: bool = False
    listening: bool = False
    subscriptions: dict[str, set[str]] = field(
        default_factory=lambda: {c: set() for c in CHANNELS})

    def push(self, frame: bytes | None) -> None:
        """Queue a frame (None closes the connection); safe from any thread."""
        with contextlib.suppress(RuntimeError):  # the server's loop is gone
            self.loop.call_soon_threadsafe(self.queue.put_nowait, frame)

    def wants(self, channel: str, symbol: str) -> bool:
        """True when subscribed to ``channel`` of ``symbol``."""
        subs = self.subscriptions[channel]
        return symbol in subs or "*" in subs


class StreamHub:
    """Websocket connections of one server.

    Parameters
    ----------
    lock : threading.RLock
        The server's lock.
    keys : callable
        The API keys the server accepts (key id -> secret).
    """

    def __init__(self, lock: threading.RLock, keys: Keys) -> None:
        self._lock = lock
        self._keys = keys
        self.connections: list[Connection] = []
        #: While True, new trading stream connections are closed at once (an outage of the
        #: stream only).
        self.refuse_trading = False
        #: Trading stream connections accepted so far.
        self.trading_connects = 0

    # -- serving ------------------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one websocket connection until it closes."""
        socket = WebSocket(scope, receive, send)
        path = scope["path"]
        if path == "/stream":
            kind = TRADING
        elif path.startswith("/v1beta3/crypto/"):
            kind = CRYPTO
        elif path in ("/v2/iex", "/v2/sip", "/v2/test", "/v2/delayed_sip"):
            kind = STOCKS
        else:
            await socket.close(code=1008)
            return
        with self._lock:
            refused = kind == TRADING and self.refuse_trading
        await socket.accept()
        if refused:
            await socket.close(code=1011)
            return
        connection = Connection(kind, asyncio.get_running_loop())
        with self._lock:
            self.connections.append(connection)
            if kind == TRADING:
                self.trading_connects += 1
        if kind != TRADING:
            connection.push(_pack([{"T": "success", "msg": "connected"}]))
        pump = asyncio.create_task(self._pump(socket, connection))
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("bytes") or (message.get("text") or "").encode()
                with self._lock:
                    self._on_message(connection, raw)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            pump.cancel()
            with self._lock:
                if connection in self.connections:
                    self.connections.remove(connection)

    @staticmethod
    async def _pump(socket: WebSocket, connection: Connection) -> None:
        try:
            while True:
                frame = await connection.queue.get()
                if frame is None:
                    await socket.close(code=1001)
                    return
                await socket.send_bytes(frame)
        except Exception:  # the client went away
            return

    def _on_message(self, connection: Connection, raw: bytes) -> None:
        if connection.kind == TRADING:
            self._on_trading(connection, raw)
        else:
            self._on_data(connection, raw)

    def _on_trading(self, connection: Connection, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            connection.push(_json({"stream": "error", "data": {"error_message": "bad json"}}))
            return
        action, data = message.get("action"), message.get("data") or {}
        if action in ("authenticate", "auth"):
            key = data.get("key_id") or message.get("key")
            secret = data.get("secret_key") or message.get("secret")
            ok = key is not None and self._keys().get(key) == secret
            connection.authorized = ok
            connection.push(_json({"stream": "authorization", "data": {
                "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}))
            if not ok:
                connection.push(None)
        elif action == "listen":
            if not connection.authorized:
                connection.push(_json({"stream": "authorization", "data": {
                    "action": "listen", "status": "unauthorized"}}))
                connection.push(None)
                return
            streams = [s for s in data.get("streams") or [] if s == "trade_updates"]
            connection.listening = bool(streams)
            connection.push(_json({"stream": "listening", "data": {"streams": streams}}))

    def _on_data(self, connection: Connection, raw: bytes) -> None:
        try:
            message = msgpack.unpackb(raw)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            try:
                message = json.loads(raw)
            except ValueError:
                connection.push(_pack([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
                return
        action = message.get("action")
        if action == "auth":
            if self._keys().get(message.get("key")) != message.get("secret"):
                connection.push(_pack([{"T": "error", "code": 402, "msg": "auth failed"}]))
                connection.push(None)
                return
            connection.authorized = True
            connection.push(_pack([{"T": "success", "msg": "authenticated"}]))
            return
        if not connection.authorized:
            connection.push(_pack([{"T": "error", "code": 401, "msg": "not authenticated"}]))
            return
        if action in ("subscribe", "unsubscribe"):
            for channel in CHANNELS:
                names = set(message.get(channel) or [])
                if action == "subscribe":
                    connection.subscriptions[channel] |= names
                else:
                    connection.subscriptions[channel] -= names
            ack: dict[str, Any] = {"T": "subscription"}
            ack.update({c: sorted(connection.subscriptions[c]) for c in CHANNELS})
            ack.update(updatedBars=[], dailyBars=[], statuses=[], lulds=[], corrections=[],
                       cancelErrors=[])
            connection.push(_pack([ack]))

    # -- what the model sends -----------------------------------------------------------------

    def trade_update(self, event: str, order: Order, fill: Fill | None) -> None:
        """Send an order change to every listening trading stream."""
        data: dict[str, Any] = {"event": event, "order": order.as_json(),
                                "timestamp": iso_ns(fill.ts if fill else order.updated_at
                                                    or order.created_at)}
        if fill is not None:
            data.update(execution_id=fill.execution_id, price=plain(fill.price),
                        qty=plain(fill.qty), position_qty=plain(fill.position_qty))
        frame = _json({"stream": "trade_updates", "data": data})
        for connection in self.connections:
            if connection.kind == TRADING and connection.listening:
                connection.push(frame)

    def quote(self, symbol: str, crypto: bool, bid: Decimal, ask: Decimal, ts: int) -> None:
        """A quote to the subscribed data streams."""
        item: dict[str, Any] = {"T": "q", "S": symbol, "bp": float(bid), "bs": 1.0,
                                "ap": float(ask), "as": 1.0,
                                "t": msgpack.Timestamp.from_unix_nano(ts)}
        if not crypto:
            item.update(bx="V", ax="V", c=["R"], z="C")
        self._data("quotes", symbol, crypto, item)

    def trade(self, symbol: str, crypto: bool, price: Decimal, size: Decimal, trade_id: int,
              ts: int) -> None:
        """A trade to the subscribed data streams."""
        item: dict[str, Any] = {"T": "t", "S": symbol, "i": trade_id, "p": float(price),
                                "s": float(size), "t": msgpack.Timestamp.from_unix_nano(ts)}
        if crypto:
            item["tks"] = "B"
        else:
            item.update(x="V", c=["@"], z="C")
        self._data("trades", symbol, crypto, item)

    def bar(self, symbol: str, crypto: bool, bar: dict[str, Any]) -> None:
        """A one-minute bar to the subscribed data streams."""
        item = {"T": "b", "S": symbol, "o": float(bar["o"]), "h": float(bar["h"]),
                "l": float(bar["l"]), "c": float(bar["c"]), "v": float(bar["v"]),
                "n": int(bar.get("n", 1)), "vw": float(bar.get("vw", bar["c"])),
                "t": msgpack.Timestamp.from_unix_nano(int(bar["t"]))}
        self._data("bars", symbol, crypto, item)

    def _data(self, channel: str, symbol: str, crypto: bool, item: dict[str, Any]) -> None:
        kind = CRYPTO if crypto else STOCKS
        frame = _pack([item])
        for connection in self.connections:
            if connection.kind == kind and connection.authorized and \
                    connection.wants(channel, symbol):
                connection.push(frame)

    # -- control ------------------------------------------------------------------------------

    def subscribed(self, kind: str, channel: str | None = None) -> list[str]:
        """What the open connections of ``kind`` listen to: ``trade_updates`` for the trading
        stream, the symbols of ``channel`` for data streams."""
        out: list[str] = []
        for connection in self.connections:
            if connection.kind != kind:
                continue
            if kind == TRADING:
                out += ["trade_updates"] if connection.listening else []
            elif channel is not None:
                out += sorted(connection.subscriptions[channel])
        return out

    def drop(self, kind: str | None = None) -> int:
        """Close the connections (of one kind); returns how many."""
        dropped = [c for c in self.connections if kind is None or c.kind == kind]
        for connection in dropped:
            connection.push(None)
            self.connections.remove(connection)
        return len(dropped)


def _json(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def _pack(items: list[dict[str, Any]]) -> bytes:
    packed: bytes = msgpack.packb(items, datetime=False)
    return packed


__all__ = ["CRYPTO", "STOCKS", "TRADING", "Connection", "StreamHub"]
