"""The server side of the ``/v1/stream`` WebSocket, and the faults a test server can inject.

:class:`StreamHub` fans order events and market data out to every connected reader, one queue
each. A reader that falls too far behind is dropped; it reconnects and fills the gap from
``GET /v1/events``. :class:`FaultPlan` holds the faults armed through
``POST /v1/admin/faults``: those of the next submits (delay the answer, reject, hold the
acknowledgement back until the fill) and those of the stream (drop the connections, send
events twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from tradeloop.brokers.paper import parse
from tradeloop.brokers.paper.protocol import STREAM_DROPPED, FaultRequest
from tradeloop.brokers.paper.state import StoredEvent
from tradeloop.brokers.paper.venue import MarketData
from tradeloop.model import events as ev

logger = logging.getLogger(__name__)

_SUBMIT_FAULTS = frozenset({"delay_answer", "reject", "fill_before_ack"})


class FaultPlan:
    """Faults armed for the next submits and the next stream events."""

    def __init__(self) -> None:
        self._submits: deque[FaultRequest] = deque()
        self._drop: FaultRequest | None = None
        self._duplicates: FaultRequest | None = None
        self._duplicates_left = 0

    def arm(self, fault: FaultRequest) -> None:
        """Arm one fault; submit faults apply to the next submits, one each, in order."""
        if fault.kind in _SUBMIT_FAULTS:
            self._submits.append(fault)
        elif fault.kind == "drop_stream":
            self._drop = fault
        else:
            self._duplicates, self._duplicates_left = fault, fault.count
        logger.warning("fault armed", extra={"fields": {"kind": fault.kind, "code": fault.code}})

    def armed(self) -> list[FaultRequest]:
        """The faults still waiting for their moment."""
        out = list(self._submits)
        out += [f for f in (self._drop, self._duplicates) if f is not None]
        return out

    def clear(self) -> None:
        """Disarm everything."""
        self._submits.clear()
        self._drop = self._duplicates = None
        self._duplicates_left = 0

    def take_submit(self) -> FaultRequest | None:
        """The fault of this submit, if one is armed."""
        return self._submits.popleft() if self._submits else None

    def take_drop(self) -> int | None:
        """After how many more events the current connections are dropped, once."""
        fault, self._drop = self._drop, None
        return None if fault is None else fault.after_events

    def take_duplicate(self) -> bool:
        """True when this event goes out twice."""
        if self._duplicates_left <= 0:
            return False
        self._duplicates_left -= 1
        if self._duplicates_left == 0:
            self._duplicates = None
        return True


@dataclass(eq=False)
class Connection:
    """One stream reader."""

    events: bool
    market: bool
    symbols: frozenset[str] | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    held: dict[str, list[bytes]] = field(default_factory=dict)
    drop_after: int | None = None
    killed: bool = False


class StreamHub:
    """Fans events and market data out to the stream's readers.

    Parameters
    ----------
    faults : FaultPlan
    queue_limit : int
        Messages a reader may have waiting before it is dropped.
    """

    def __init__(self, faults: FaultPlan, queue_limit: int = 10_000) -> None:
        self._faults = faults
        self._limit = queue_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[Connection] = set()
        self._hold_ack_for: str | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the server's)."""
        self._loop = loop

    def register(self, *, events: bool, market: bool, symbols: frozenset[str] | None
                 ) -> Connection:
        """A new reader; it gets everything published from now on."""
        connection = Connection(events, market, symbols)
        self._connections.add(connection)
        return connection

    def unregister(self, connection: Connection) -> None:
        """Forget a reader."""
        self._connections.discard(connection)

    def close_all(self) -> None:
        """End every reader's stream (server shutdown)."""
        for connection in list(self._connections):
            self._kill(connection)

    def hold_ack(self, client_order_id: str) -> None:
        """Hold the acknowledgement of this order back until its next event went out."""
        self._hold_ack_for = client_order_id

    # -- publishing (venue listeners: any thread) -----------------------------------------------

    def on_event(self, stored: StoredEvent) -> None:
        """Venue listener of order events."""
        self._on_loop(self._publish_event, stored)

    def on_market(self, item: MarketData) -> None:
        """Venue listener of market data."""
        self._on_loop(self._publish_market, item)

    def _on_loop(self, publish: Callable[[Any], None], item: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            publish(item)
        else:
            loop.call_soon_threadsafe(publish, item)

    def _publish_event(self, stored: StoredEvent) -> None:
        raw = parse.encode(parse.event_message(stored))
        cid = stored.event.client_order_id
        hold = self._hold_ack_for == cid and isinstance(stored.event, ev.OrderAccepted)
        if hold:
            self._hold_ack_for = None
        twice = self._faults.take_duplicate()
        drop = self._faults.take_drop()
        for connection in list(self._connections):
            if not connection.events:
                continue
            if drop is not None:
                connection.drop_after = drop
            if hold:
                connection.held.setdefault(cid, []).append(raw)
                continue
            self._put(connection, raw)
            if twice:
                self._put(connection, raw)
            for late in connection.held.pop(cid, []):
                self._put(connection, late)
            if connection.drop_after is not None:
                connection.drop_after -= 1
                if connection.drop_after <= 0:
                    self._end(connection)

    def _publish_market(self, item: MarketData) -> None:
        raw: bytes | None = None
        for connection in list(self._connections):
            if connection.market and (connection.symbols is None
                                      or item.symbol in connection.symbols):
                raw = raw or parse.encode(parse.market_message(item))
                self._put(connection, raw)

    def _put(self, connection: Connection, raw: bytes) -> None:
        if connection.queue.qsize() >= self._limit:
            logger.warning("dropped a stream reader that fell behind")
            self._kill(connection)
            return
        connection.queue.put_nowait(raw)

    def _end(self, connection: Connection) -> None:
        """Close after what is queued (a fault)."""
        self._connections.discard(connection)
        connection.queue.put_nowait(None)

    def _kill(self, connection: Connection) -> None:
        """Close now, dropping what is queued."""
        self._connections.discard(connection)
        connection.killed = True
        connection.queue.put_nowait(None)

    # -- sending (one task per reader) ----------------------------------------------------------

    async def pump(self, websocket: WebSocket, connection: Connection) -> None:
        """Send the reader's queue until it disconnects or is dropped."""
        receiver = asyncio.create_task(_drain(websocket))
        try:
            while not receiver.done():
                getter = asyncio.ensure_future(connection.queue.get())
                done, _ = await asyncio.wait({getter, receiver},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                item = getter.result()
                if item is None or connection.killed:
                    await websocket.close(code=STREAM_DROPPED, reason="stream dropped")
                    return
                await websocket.send_text(item.decode())
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the reader sends until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
