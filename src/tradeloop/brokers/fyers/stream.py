"""Fyers' order socket (:class:`OrderStream`): order, trade and position updates as they happen.

The socket (``wss://socket.fyers.in/trade/v3``) takes the same ``authorization:
<client_id>:<access_token>`` header as the REST API, then ``{"T": "SUB_ORD", "SLIST":
["orders", "trades", "positions"], "SUB_T": 1}``, and sends JSON: ``{"s": "ok", "orders":
{...}}``, ``{"s": "ok", "trades": {...}}``, ``{"s": "ok", "positions": {...}}``. A text
``__ping`` every ten seconds keeps it open.

The stream hands each order and trade message to its owner and reconnects with backoff when it
drops; after a reconnection the owner is told to catch up (updates sent meanwhile are lost). A
refused upgrade is checked against the REST API, which latches a dead token
(:meth:`FyersClient.refuse`); the stream then waits for a new login instead of hammering Fyers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.core.errors import VenueError

logger = logging.getLogger(__name__)

PING_S = 10.0
LISTS = ["orders", "trades", "positions"]
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


class OrderStream:
    """The order socket of one session.

    Parameters
    ----------
    client : FyersClient
    on_message : callable
        ``await on_message(kind, payload)`` with kind ``"orders"`` or ``"trades"``.
    on_reconnect : callable
        Called (awaited) after every connection but the first: catch up over REST.
    """

    def __init__(self, client: FyersClient, on_message: Handler,
                 on_reconnect: Callable[[], Awaitable[None]]) -> None:
        self.client = client
        self.config = client.config
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        #: Connections opened so far, and messages received.
        self.connections = 0
        self.messages = 0
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Keep the socket open until cancelled."""
        delay = self.config.reconnect_initial_s
        while True:
            try:
                if self.client.refused:
                    await self.client.check_token()
                await self._session()
                delay = self.config.reconnect_initial_s
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                logger.warning("fyers order socket refused", extra={"fields": {
                    "status": exc.response.status_code}})
                await self._probe_token()
            except (OSError, WebSocketException, TimeoutError) as exc:
                logger.warning("fyers order socket lost", extra={"fields": {
                    "error": f"{type(exc).__name__}: {exc}"}})
            except VenueError as exc:
                logger.warning("fyers order socket waits", extra={"fields": {
                    "error": str(exc)}})
                delay = self.config.reconnect_max_s
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _session(self) -> None:
        async with connect(self.config.order_socket_url,
                           additional_headers={"authorization": self.client.authorization},
                           proxy=True if self.config.use_system_proxy else None,
                           open_timeout=self.config.timeout_s, max_size=None) as socket:
            await socket.send(json.dumps({"T": "SUB_ORD", "SLIST": LISTS, "SUB_T": 1}))
            self.connections += 1
            self.connected.set()
            if self.connections > 1:
                logger.info("fyers order socket back")
                await self._on_reconnect()
            pinger = asyncio.get_running_loop().create_task(self._ping(socket))
            try:
                async for raw in socket:
                    await self._dispatch(raw)
            finally:
                pinger.cancel()

    async def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            return  # "pong" and the like
        if not isinstance(message, dict):
            return
        for kind in ("orders", "trades"):
            payload = message.get(kind)
            if isinstance(payload, dict):
                self.messages += 1
                try:
                    await self._on_message(kind, payload)
                except VenueError as exc:
                    logger.warning("fyers order update not applied", extra={"fields": {
                        "error": str(exc)}})

    @staticmethod
    async def _ping(socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(PING_S)
            await socket.send("__ping")

    async def _probe_token(self) -> None:
        # after a refused upgrade: ask the REST API, which latches a dead token
        with contextlib.suppress(VenueError):
            await self.client.request("GET", "/api/v3/profile", "profile")


__all__ = ["OrderStream"]
