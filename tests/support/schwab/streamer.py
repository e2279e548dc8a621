"""The streamer of the local Schwab: the websocket whose address ``GET
/trader/v1/userPreference`` gives (``streamerInfo[0].streamerSocketUrl``).

Requests come as ``{"requests": [{"service", "command", "requestid", "SchwabClientCustomerId",
"SchwabClientCorrelId", "parameters"}]}`` (a bare request object is taken too). The first must
be ``ADMIN``/``LOGIN`` with ``parameters.Authorization`` = a valid access token and the
customer and correlation ids of the user's preferences; anything else first is refused (code
20) and a bad login is denied (code 3) and the socket closed. Then ``LEVELONE_EQUITIES`` and
``LEVELONE_OPTIONS`` take ``SUBS`` (replace the keys), ``ADD``, ``UNSUBS`` and ``VIEW``
(``parameters.keys`` and ``fields``, comma separated). Every command is answered in
``{"response": [{"service", "command", "requestid", "SchwabClientCorrelId", "timestamp",
"content": {"code", "msg"}}]}`` (code 0: done).

Quotes arrive as ``{"data": [{"service", "timestamp", "command": "SUBS", "content": [{"key",
"delayed": false, "assetMainType", <field number>: value...}]}]}``: a full snapshot of the
requested fields right after a subscription, then only the fields that changed whenever the
quote moves (:meth:`Streamer.price_changed`). Nothing is pushed on a timer, so tests never wait
on one (Schwab also sends ``{"notify": [{"heartbeat": ...}]}`` every few seconds; so does this
server when asked with :meth:`Streamer.heartbeat`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .venue import Listing, Venue

CUSTOMER_ID = "local-customer-7f3a"
CORREL_ID = "local-correl-5d21"
CHANNEL, FUNCTION_ID = "N9", "APIAPP"
SERVICES = {"LEVELONE_EQUITIES": "EQUITY", "LEVELONE_OPTIONS": "OPTION"}
#: Field numbers this server fills, per service: bid, ask, last, bid size, ask size, quote time.
FIELDS = {"LEVELONE_EQUITIES": {"bid": 1, "ask": 2, "last": 3, "bid_size": 4, "ask_size": 5,
                                "mark": 33, "quote_time": 34, "trade_time": 35},
          "LEVELONE_OPTIONS": {"bid": 2, "ask": 3, "last": 4, "bid_size": 16, "ask_size": 17,
                               "mark": 37, "quote_time": 38, "trade_time": 39}}


@dataclass
class Client:
    """One streamer connection."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    logged_in: bool = False
    subs: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # service -> key -> fields
    sent: dict[tuple[str, str], dict[int, Any]] = field(default_factory=dict)

    def push(self, message: dict[str, Any] | None) -> None:
        """Queue a message (``None`` closes the socket); safe from any thread."""
        text = None if message is None else json.dumps(message)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, text)


class Streamer:
    """Every streamer connection of one server.

    Parameters
    ----------
    lock : threading.RLock
        The server's lock.
    venue : callable
        Returns the current venue (it changes on reset).
    valid_token : callable
        ``valid_token(access_token) -> bool``.
    clock : callable
        Milliseconds since the epoch.
    """

    def __init__(self, lock: threading.RLock, venue: Callable[[], Venue],
                 valid_token: Callable[[str], bool], clock: Callable[[], int]) -> None:
        self._lock = lock
        self._venue = venue
        self._valid = valid_token
        self._clock = clock
        self.clients: list[Client] = []
        #: LOGIN requests refused so far.
        self.denied = 0

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection until it closes."""
        socket = WebSocket(scope, receive, send)
        await socket.accept()
        client = Client(asyncio.get_running_loop())
        with self._lock:
            self.clients.append(client)
        pump = asyncio.create_task(self._pump(socket, client))
        try:
            while True:
                text = await socket.receive_text()
                with self._lock:
                    self._on_text(client, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            pump.cancel()
            with self._lock:
                if client in self.clients:
                    self.clients.remove(client)

    @staticmethod
    async def _pump(socket: WebSocket, client: Client) -> None:
        while True:
            text = await client.queue.get()
            if text is None:
                await socket.close(code=1000)
                return
            await socket.send_text(text)

    def drop_all(self) -> None:
        """Close every connection (the streamer stays up)."""
        with self._lock:
            for client in self.clients:
                client.push(None)
            self.clients.clear()

    def heartbeat(self) -> None:
        """Send every client a heartbeat notification."""
        with self._lock:
            for client in self.clients:
                client.push({"notify": [{"heartbeat": str(self._clock())}]})

    def subscriptions(self) -> list[tuple[str, str]]:
        """(service, key) of every subscription of logged-in clients."""
        with self._lock:
            return sorted({(service, key) for c in self.clients if c.logged_in
                           for service, keys in c.subs.items() for key in keys})

    # -- requests -------------------------------------------------------------------------

    def _on_text(self, client: Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            client.push(self._response({}, 21, "Bad command formatting: not JSON"))
            return
        requests = message.get("requests", [message]) if isinstance(message, dict) else message
        for request in requests if isinstance(requests, list) else []:
            if isinstance(request, dict):
                self._on_request(client, request)

    def _on_request(self, client: Client, request: dict[str, Any]) -> None:
        service = str(request.get("service", "")).upper()
        command = str(request.get("command", "")).upper()
        if service == "ADMIN" and command == "LOGIN":
            self._login(client, request)
            return
        if not client.logged_in:
            client.push(self._response(request, 20, "Not logged in: send ADMIN LOGIN first"))
            return
        if service == "ADMIN" and command == "LOGOUT":
            client.push(self._response(request, 0, "LOGOUT command succeeded"))
            client.push(None)
            return
        if service not in SERVICES:
            client.push(self._response(request, 11, f"Service {service} is not available"))
            return
        params = request.get("parameters") or {}
        keys = [k.strip() for k in str(params.get("keys", "")).split(",") if k.strip()]
        try:
            fields = {int(f) for f in str(params.get("fields", "0")).split(",") if f.strip()}
        except ValueError:
            client.push(self._response(request, 21, "fields must be numbers"))
            return
        fields.add(0)
        subs = client.subs.setdefault(service, {})
        if command in ("SUBS", "ADD"):
            if command == "SUBS":
                subs.clear()
            for key in keys:
                subs[key] = set(fields)
                client.sent.pop((service, key), None)
        elif command == "UNSUBS":
            for key in keys:
                subs.pop(key, None)
        elif command == "VIEW":
            for key in subs:
                subs[key] = set(fields)
        else:
            client.push(self._response(request, 21, f"Unknown command {command}"))
            return
        client.push(self._response(request, 0, f"{command} command succeeded"))
        if command in ("SUBS", "ADD"):
            self._send_quotes(client, service, keys, full=True)

    def _login(self, client: Client, request: dict[str, Any]) -> None:
        params = request.get("parameters") or {}
        token = str(params.get("Authorization", "")).removeprefix("Bearer ").strip()
        good = (self._valid(token)
                and request.get("SchwabClientCustomerId") == CUSTOMER_ID
                and request.get("SchwabClientCorrelId") == CORREL_ID
                and params.get("SchwabClientChannel") == CHANNEL
                and params.get("SchwabClientFunctionId") == FUNCTION_ID)
        if not good:
            self.denied += 1
            client.push(self._response(request, 3, "Login denied."))
            client.push(None)
            return
        client.logged_in = True
        client.push(self._response(request, 0, "server=local-schwab;status=PN"))

    def _response(self, request: dict[str, Any], code: int, msg: str) -> dict[str, Any]:
        return {"response": [{
            "service": str(request.get("service", "")).upper(),
            "command": str(request.get("command", "")).upper(),
            "requestid": str(request.get("requestid", "")),
            "SchwabClientCorrelId": CORREL_ID, "timestamp": self._clock(),
            "content": {"code": code, "msg": msg}}]}

    # -- quotes ---------------------------------------------------------------------------

    def price_changed(self, symbol: str) -> None:
        """Push what changed in ``symbol``'s quote to its subscribers (the lock is held)."""
        for client in self.clients:
            for service, keys in client.subs.items():
                if client.logged_in and symbol in keys:
                    self._send_quotes(client, service, [symbol], full=False)

    def _send_quotes(self, client: Client, service: str, keys: list[str], full: bool) -> None:
        venue = self._venue()
        content = []
        for key in keys:
            listing = venue.listings.get(key)
            wanted = client.subs.get(service, {}).get(key)
            if listing is None or wanted is None or listing.asset_type != SERVICES[service]:
                continue
            values = {n: v for n, v in self._values(service, listing).items() if n in wanted}
            before = client.sent.get((service, key), {})
            changed = values if full else {n: v for n, v in values.items()
                                           if before.get(n) != v}
            client.sent[(service, key)] = values
            if not changed:
                continue
            item: dict[str, Any] = {"key": key, "delayed": False,
                                    "assetMainType": listing.asset_type}
            item.update({str(n): v for n, v in sorted(changed.items()) if n != 0})
            content.append(item)
        if content:
            client.push({"data": [{"service": service, "timestamp": self._clock(),
                                   "command": "SUBS", "content": content}]})

    def _values(self, service: str, listing: Listing) -> dict[int, Any]:
        numbers = FIELDS[service]
        quote_ms = listing.quote_ms or self._clock()
        return {0: listing.symbol, numbers["bid"]: float(listing.bid),
                numbers["ask"]: float(listing.ask), numbers["last"]: float(listing.mid),
                numbers["bid_size"]: 100, numbers["ask_size"]: 100,
                numbers["mark"]: float(listing.mid), numbers["quote_time"]: quote_ms,
                numbers["trade_time"]: quote_ms}


__all__ = ["CHANNEL", "CORREL_ID", "CUSTOMER_ID", "FIELDS", "FUNCTION_ID", "SERVICES",
           "Streamer"]
