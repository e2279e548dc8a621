"""The event stream behind ``/api/v1/ws``: the node's bus events (orders, fills, positions,
risk state), the equity once a second and log records above a level, fanned out to every
connected client.

Each client has a bounded queue; a client too slow to keep up is disconnected (close code 1013,
"try again later") rather than slowing the node or growing memory. Messages are JSON objects
``{"type": ..., "ts": ..., "data": {...}}``; Decimal values travel as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from tradeloop.model import events as ev

log = logging.getLogger(__name__)

QUEUE_SIZE = 1_000
EQUITY_EVERY_S = 1.0

_TYPES: tuple[tuple[type[Any], str], ...] = (
    (ev.OrderFilled, "fill"),
    (ev.PositionEvent, "position"),
    (ev.TradingStateChanged, "risk_state"),
    (ev.OrderEvent, "order"),
)


def _builtin(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__}")


def message(kind: str, ts: int, data: Any) -> bytes:
    """One stream message as JSON bytes."""
    return msgspec.json.encode({"type": kind, "ts": ts, "data": data}, enc_hook=_builtin)


class Client:
    """One connected client's queue."""

    def __init__(self, name: str, size: int = QUEUE_SIZE) -> None:
        self.name = name
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self.dropped = False

    def offer(self, payload: bytes) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped = True  # the sender sees None and closes the socket
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventHub:
    """Fans events out to WebSocket clients. Everything runs on the event loop; log records
    from other threads are handed over with ``call_soon_threadsafe``.

    Parameters
    ----------
    on_event : callable, optional
        Also receives every bus event (the metrics count them).
    """

    def __init__(self, on_event: Callable[[Any], None] | None = None) -> None:
        self.clients: set[Client] = set()
        self._on_event = on_event
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sent = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the clients live on."""
        self._loop = loop

    def subscribe(self, bus: Any) -> None:
        """Receive the node's events (``events.*`` on its message bus)."""
        bus.subscribe("events.*", self.on_event)

    def on_event(self, event: Any) -> None:
        """A bus event: count it, and send the ones clients care about."""
        if self._on_event is not None:
            self._on_event(event)
        if not self.clients:
            return
        for cls, kind in _TYPES:
            if isinstance(event, cls):
                data = msgspec.to_builtins(event, enc_hook=_builtin)
                data["event"] = type(event).__name__
                self.publish(kind, int(getattr(event, "ts", 0) or time.time_ns()), data)
                return

    def publish(self, kind: str, ts: int, data: Any) -> None:
        """Send one message to every client."""
        if not self.clients:
            return
        payload = message(kind, ts, data)
        for client in tuple(self.clients):
            client.offer(payload)
        self.sent += 1

    def publish_threadsafe(self, kind: str, ts: int, data: Any) -> None:
        """:meth:`publish` from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.publish, kind, ts, data)

    def connect(self, name: str) -> Client:
        """A new client."""
        client = Client(name)
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a client."""
        self.clients.discard(client)


class StreamLogHandler(logging.Handler):
    """Sends log records at or above ``level`` to the stream's clients (never the
    stream's own records, so a failing client cannot log itself into a loop)."""

    def __init__(self, hub: EventHub, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == __name__ or not self.hub.clients:
            return
        try:
            self.hub.publish_threadsafe("log", int(record.created * 1e9), {
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage()})
        except Exception:  # a log handler must never raise
            self.handleError(record)


async def equity_ticker(hub: EventHub, read: Callable[[], Any],
                        every_s: float = EQUITY_EVERY_S) -> None:
    """Send the account (balance, equity, PnL) every ``every_s`` while clients listen."""
    while True:
        await asyncio.sleep(every_s)
        if hub.clients:
            try:
                hub.publish("equity", time.time_ns(), read())
            except Exception:
                log.exception("equity update failed")
