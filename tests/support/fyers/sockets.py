"""The two websockets of the local Fyers.

* ``/trade/v3``, the order socket: the ``authorization: <app_id>:<access_token>`` header is
  checked at the upgrade; the client sends ``{"T": "SUB_ORD", "SLIST": ["orders", "trades",
  "positions"], "SUB_T": 1}`` and then receives ``{"s": "ok", "orders": {...}}``,
  ``{"s": "ok", "trades": {...}}`` and ``{"s": "ok", "positions": {...}}`` with the raw field
  names the socket uses (``org_ord_status``, ``qty_filled``, ``price_traded``, ``tran_side``...).
* ``/hsm/v1-5/prod``, the data socket: binary frames (:mod:`.hsm`); authenticated in-band with
  the token's ``hsm_key``; ``sf|<segment>|<token>`` topics stream the 21 fields of a symbol
  update whenever the market of that symbol moves.

Steering of the order socket: ``duplicate`` sends every message about an order twice;
``out_of_order`` holds an order's messages until its first trade has been sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import hsm
from .matching import Book, Order, Position, Trade
from .symbols import SymbolSpec
from .tokens import TokenDesk

#: Fyers' statuses -> the order management system's own codes the socket also carries.
_OMS_STATUS = {1: 30, 2: 90, 4: 10, 5: 40, 6: 20, 7: 50}


@dataclass
class _Client:
    """One websocket client: its queue and what it listens to."""

    kind: str  # "orders" or "data"
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)
    lists: set[str] = field(default_factory=set)
    topics: dict[str, hsm.Topic] = field(default_factory=dict)
    authenticated: bool = False
    acks: int = 0
    number: int = 0

    def push(self, message: str | bytes | None) -> None:
        """Queue a message (safe from any thread); None closes the connection."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)


class SocketHub:
    """The websocket clients of one server and what the model sends them.

    Parameters
    ----------
    lock : threading.RLock
        The server's lock.
    book : callable
        The current order book (it changes on reset).
    tokens : callable
        The current token desk.
    now : callable
        The server's clock in seconds.
    """

    def __init__(self, lock: threading.RLock, book: Callable[[], Book],
                 tokens: Callable[[], TokenDesk], now: Callable[[], float]) -> None:
        self._lock = lock
        self._book = book
        self._tokens = tokens
        self._now = now
        self.clients: list[_Client] = []
        self.duplicate: set[str] = set()  # tags or order ids whose messages go twice
        self.out_of_order: set[str] = set()
        self._held: dict[str, list[str]] = {}
        self._seen: set[str] = set()
        #: Faults for the next new order: "duplicate" or "out_of_order".
        self.armed: list[str] = []
        self.refused_upgrades = 0

    # -- serving -----------------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one websocket connection until it closes."""
        socket = WebSocket(scope, receive, send)
        path = scope["path"]
        if path.startswith("/trade/v3"):
            headers = {k.lower(): v for k, v in socket.headers.items()}
            with self._lock:
                ok = self._tokens().check(headers.get("authorization", "")) == 0
                if not ok:
                    self.refused_upgrades += 1
            if not ok:
                await socket.close(code=1008)
                return
            client = _Client("orders", asyncio.get_running_loop())
        elif path.startswith("/hsm/"):
            client = _Client("data", asyncio.get_running_loop())
        else:
            await socket.close(code=1008)
            return
        await socket.accept()
        with self._lock:
            self.clients.append(client)
        pump = asyncio.create_task(self._pump(socket, client))
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                with self._lock:
                    if client.kind == "orders" and message.get("text") is not None:
                        self._on_order_text(client, message["text"])
                    elif client.kind == "data" and message.get("bytes") is not None:
                        self._on_data_frame(client, message["bytes"])
        except WebSocketDisconnect:
            pass
        finally:
            pump.cancel()
            with self._lock:
                if client in self.clients:
                    self.clients.remove(client)

    @staticmethod
    async def _pump(socket: WebSocket, client: _Client) -> None:
        try:
            while True:
                message = await client.queue.get()
                if message is None:
                    await socket.close(code=1001)
                    return
                if isinstance(message, bytes):
                    await socket.send_bytes(message)
                else:
                    await socket.send_text(message)
        except Exception:  # the client went away
            return

    def close_all(self) -> None:
        """Close every connection."""
        with self._lock:
            for client in self.clients:
                client.push(None)
            self.clients.clear()

    def counts(self) -> dict[str, int]:
        """Open connections by kind."""
        with self._lock:
            out = {"orders": 0, "data": 0}
            for client in self.clients:
                out[client.kind] += 1
            return out

    # -- the order socket --------------------------------------------------------------------

    def _on_order_text(self, client: _Client, text: str) -> None:
        if text.strip().strip('"') in ("__ping", "ping"):
            client.push("pong")
            return
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict) or message.get("T") != "SUB_ORD":
            return
        lists = {str(x) for x in message.get("SLIST") or ()}
        if int(message.get("SUB_T", 1)) == 1:
            client.lists |= lists
        else:
            client.lists -= lists
        client.push(json.dumps({"s": "ok", "code": 1605, "message": "Successfully subscribed"}))

    def order_event(self, order: Order, trade: Trade | None) -> None:
        """Tell the order clients what happened to ``order`` (called under the lock)."""
        key = order.tag or order.id
        if order.id not in self._seen:
            self._seen.add(order.id)
            if self.armed and not order.parent_id:
                fault = self.armed.pop(0)
                (self.duplicate if fault == "duplicate" else self.out_of_order).add(key)
        messages = []
        if trade is not None:
            messages.append(("trades", json.dumps({"s": "ok", "trades": _trade(trade)})))
        messages.append(("orders", json.dumps({"s": "ok", "orders": _order(order)})))
        if trade is not None:
            position = self._book().positions.get((order.spec.ticker, order.product))
            if position is not None:
                messages.append(("positions", json.dumps(
                    {"s": "ok", "positions": _position(position, self._book())})))
        if key in self.out_of_order or (order.parent_id and order.parent_id in
                                        self.out_of_order):
            held = self._held.setdefault(key, [])
            if trade is None:
                held += [m for kind, m in messages if kind == "orders"]
                return
            self.out_of_order.discard(key)
            messages = [m for m in messages if m[0] == "trades"] + \
                [("orders", m) for m in held] + [m for m in messages if m[0] != "trades"]
            del self._held[key]
        times = 2 if key in self.duplicate else 1
        for kind, text in messages:
            for client in self.clients:
                if client.kind == "orders" and kind in client.lists:
                    for _ in range(times):
                        client.push(text)

    # -- the data socket ---------------------------------------------------------------------

    def _on_data_frame(self, client: _Client, frame: bytes) -> None:
        try:
            request = hsm.decode_request(frame)
        except (ValueError, IndexError):
            return
        if request.kind == hsm.PING:
            return
        if request.kind == hsm.AUTH:
            key = request.fields.get(1, b"").decode("utf-8", "replace")
            client.authenticated = self._tokens().hsm_key_ok(key)
            client.push(hsm.answer(hsm.AUTH, client.authenticated))
            if not client.authenticated:
                client.push(None)
            return
        if not client.authenticated:
            client.push(hsm.answer(request.kind, False))
            return
        if request.kind == hsm.MODE:
            client.push(hsm.answer(hsm.MODE, True))
        elif request.kind == hsm.SUBSCRIBE:
            fresh = []
            for name in request.topics():
                spec = self._spec_of_topic(name)
                if spec is None or name in client.topics:
                    continue
                exchange = spec.ticker.split(":")[0]
                topic = hsm.Topic(len(client.topics) + 1, name, spec.ticker, exchange,
                                  spec.exchange_token)
                client.topics[name] = topic
                fresh.append((topic, spec))
            client.push(hsm.answer(hsm.SUBSCRIBE, True))
            if fresh:
                self._send_data(client, fresh)
        elif request.kind == hsm.UNSUBSCRIBE:
            for name in request.topics():
                client.topics.pop(name, None)
            client.push(hsm.answer(hsm.UNSUBSCRIBE, True))
        elif request.kind == hsm.ACK:
            client.acks += 1

    def _spec_of_topic(self, name: str) -> SymbolSpec | None:
        parts = name.split("|")
        if len(parts) != 3 or parts[0] != "sf":
            return None
        for spec in self._book().symbols:
            if spec.hsm_segment == parts[1] and spec.exchange_token == parts[2]:
                return spec
        return None

    def market_moved(self, ticker: str) -> None:
        """Stream the market of ``ticker`` to its subscribers (called under the lock)."""
        spec = self._book().by_ticker[ticker]
        for client in self.clients:
            if client.kind != "data" or not client.authenticated:
                continue
            topics = [(t, spec) for t in client.topics.values() if t.symbol == ticker]
            if topics:
                self._send_data(client, topics)

    def _send_data(self, client: _Client, topics: list[tuple[hsm.Topic, SymbolSpec]]) -> None:
        book = self._book()
        items = []
        for topic, spec in topics:
            quote = book.quotes[spec.ticker]
            now = int(self._now())
            items.append((topic, {
                "ltp": quote.ltp, "vol_traded_today": quote.volume,
                "last_traded_time": quote.last_time or now, "exch_feed_time": now,
                "bid_size": 100, "ask_size": 100, "bid_price": quote.bid,
                "ask_price": quote.ask, "last_traded_qty": quote.last_qty,
                "tot_buy_qty": 1000, "tot_sell_qty": 1000, "avg_trade_price": quote.ltp,
                "OI": None, "low_price": quote.low, "high_price": quote.high, "Yhigh": None,
                "Ylow": None, "lower_ckt": None, "upper_ckt": None, "open_price": quote.open,
                "prev_close_price": spec.price}))
        client.number += 1
        client.push(hsm.data_frame(client.number, items))


def _order(order: Order) -> dict[str, Any]:
    spec = order.spec
    return {
        "client_id": "XT00001", "id": order.id, "id_parent": order.parent_id,
        "id_exchange": f"11000000{order.id[-8:]}", "qty": order.qty,
        "qty_remaining": order.remaining, "qty_filled": order.filled,
        "price_limit": float(order.limit), "price_stop": float(order.stop),
        "price_traded": float(order.traded_price), "ord_type": order.type,
        "fy_token": spec.fytoken, "exchange": spec.exchange_code, "segment": spec.segment_code,
        "symbol": spec.ticker, "instrument": 0 if spec.is_equity else 11,
        "status_msg": order.message, "offline_flag": order.offline,
        "update_time_epoch_oms": int(order.updated), "validity": order.validity,
        "product_type": order.product, "tran_side": order.side,
        "org_ord_status": order.status, "ord_status": _OMS_STATUS.get(order.status, 0),
        "ord_source": "ITS", "symbol_exch": spec.ticker.split(":")[1].split("-")[0],
        "symbol_desc": spec.description, "ordertag": order.order_tag, "qty_disc": 0,
        "dqQtyRem": 0, "price_sl": float(order.stop_loss),
        "price_target": float(order.take_profit),
    }


def _trade(trade: Trade) -> dict[str, Any]:
    order = trade.order
    return {
        "id": f"{order.id}-{trade.number}", "id_fill": trade.number, "orderNumber": order.id,
        "qty_traded": trade.qty, "price_traded": float(trade.price),
        "traded_val": float(trade.price * trade.qty), "product_type": order.product,
        "client_id": "XT00001", "id_exchange": f"11000000{order.id[-8:]}",
        "ord_type": order.type, "tran_side": order.side, "symbol": order.spec.ticker,
        "time_epoch": int(trade.time), "fy_token": order.spec.fytoken,
        "ordertag": order.order_tag,
    }


def _position(position: Position, book: Book) -> dict[str, Any]:
    spec = position.spec
    buy_avg = float(position.buy_value / position.buy_qty) if position.buy_qty else 0.0
    sell_avg = float(position.sell_value / position.sell_qty) if position.sell_qty else 0.0
    return {
        "symbol": spec.ticker, "id": f"{spec.ticker}-{position.product}",
        "buy_avg": buy_avg, "buy_qty": position.buy_qty,
        "buy_val": float(position.buy_value), "sell_avg": sell_avg,
        "sell_qty": position.sell_qty, "sell_val": float(position.sell_value),
        "net_avg": buy_avg if position.net > 0 else sell_avg, "net_qty": position.net,
        "tran_side": 1 if position.net > 0 else (-1 if position.net < 0 else 0),
        "product_type": position.product, "pl_realized": float(book.realized),
        "rbirefrate": 1, "fy_token": spec.fytoken, "segment": spec.segment_code,
        "day_buy_qty": position.buy_qty, "day_sell_qty": position.sell_qty,
        "cf_buy_qty": 0, "cf_sell_qty": 0, "qty_multiplier": spec.multiplier,
        "symbol_desc": spec.description, "time": time.time(),
    }


__all__ = ["SocketHub"]
