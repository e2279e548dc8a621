"""The execution client of a served paper venue (:class:`PaperExecutionClient`).

It implements :class:`~tradeloop.execution.ports.LiveExecutionClient`: commands and queries
over REST, order events from the ``/v1/stream`` WebSocket. The stream reconnects by itself
(exponential backoff) and never loses or repeats an event: each event carries the venue's seq;
one at or below the last handled seq is a duplicate and dropped, one that skips ahead makes the
client fetch what it missed from ``GET /v1/events?since_seq=N`` first, and after a reconnect
the venue's hello (its last seq) does the same. Events reach the handler in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import quote

import httpx
from websockets.exceptions import ConnectionClosed

from tradeloop.brokers.base import pick_instruments
from tradeloop.brokers.paper import parse
from tradeloop.brokers.paper.client import PaperHttpClient
from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.errors import PaperFatalError, PaperRetryableError
from tradeloop.brokers.paper.protocol import (
    EventMessage,
    EventsAnswer,
    HelloMessage,
    ModifyRequest,
    ReasonCode,
    SubmitAnswer,
)
from tradeloop.core.errors import VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)


class PaperExecutionClient:
    """A node's connection to a served paper venue.

    Parameters
    ----------
    config : PaperClientConfig, optional
        Where the venue is, its token, the owner name of this node, timeouts.
    transport : httpx.AsyncBaseTransport, optional
        The HTTP transport (tests inject one).
    capabilities : VenueCapabilities, optional
        What the venue does natively (default: everything, like the simulated venue).
    since_seq : int, optional
        Deliver the events after this seq on connect (a node that persisted :attr:`last_seq`);
        None starts from the venue's current seq.
    """

    def __init__(
        self,
        config: PaperClientConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        capabilities: VenueCapabilities | None = None,
        since_seq: int | None = None,
    ) -> None:
        self.config = config or PaperClientConfig()
        self.venue = self.config.venue
        self.capabilities = capabilities or VenueCapabilities()
        self._transport = transport
        self._http: PaperHttpClient | None = None
        self._handler: EventHandler | None = None
        self._last_seq = since_seq
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._fatal: VenueError | None = None
        self._closing = False
        #: Stream connections lost and reopened since :meth:`connect`.
        self.reconnects = 0
        #: Events dropped because their seq had been handled already.
        self.duplicates_dropped = 0
        #: Requests made to ``/v1/events`` to fill a gap.
        self.gap_fills = 0

    @property
    def last_seq(self) -> int:
        """The seq of the last event handled (persist it to resume with ``since_seq``)."""
        return self._last_seq or 0

    @property
    def connected(self) -> bool:
        """True while the event stream is open."""
        return self._ready.is_set() and self._fatal is None

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self._handler = handler

    async def connect(self) -> None:
        """Reach the venue and open the event stream.

        Raises
        ------
        PaperRetryableError
            When the venue cannot be reached (or its stream does not open in time).
        PaperFatalError
            When it refuses the token.
        """
        if self._task is not None:
            return
        self._closing, self._fatal = False, None
        self._ready = asyncio.Event()
        self._http = PaperHttpClient(self.config, self._transport)
        try:
            await self._http.request("GET", "/health")
            self._task = asyncio.create_task(self._run_stream(), name="paper-venue-stream")
            try:
                await asyncio.wait_for(self._ready.wait(), self.config.stream_open_timeout_s)
            except TimeoutError:
                raise PaperRetryableError(
                    "UNREACHABLE", f"the event stream of {self.config.url} did not open within "
                    f"{self.config.stream_open_timeout_s} s") from None
            if self._fatal is not None:
                raise self._fatal
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Close the stream and the HTTP connections."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
        self._ready.clear()

    # -- commands -------------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send a new order; a client order id the venue already has creates nothing new.

        Raises
        ------
        PaperFatalError
            The venue rejected the order (code INVALID_VOLUME, INSUFFICIENT_FUNDS...; the
            ``OrderRejected`` event follows on the stream).
        PaperRetryableError, PaperOutcomeUnknownError
        """
        body = parse.encode(parse.order_request(order, self.config.owner))
        raw = await self._call("POST", "/orders", body=body)
        answer = parse.decode(raw, SubmitAnswer, "submit answer")
        if answer.duplicate:
            logger.info("the venue already had this order", extra={"fields": {
                "client_order_id": order.client_order_id, "status": answer.order.status}})

    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order.

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND, or ORDER_NOT_OPEN (an ``OrderCancelRejected`` event follows).
        """
        await self._call("DELETE", f"/orders/{quote(order.client_order_id, safe='')}")

    async def modify_order(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order.

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND, ORDER_NOT_OPEN, INVALID_VOLUME, INVALID_PRICE (an
            ``OrderModifyRejected`` event follows).
        """
        body = parse.encode(ModifyRequest(quantity=quantity, price=price,
                                          trigger_price=trigger_price))
        await self._call("PATCH", f"/orders/{quote(order.client_order_id, safe='')}", body=body)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order of this node (of one instrument when given); an order that
        closed meanwhile is skipped."""
        for report in await self.open_orders():
            if symbol is None or report.symbol == symbol:
                try:
                    await self._call("DELETE", f"/orders/{quote(report.client_order_id, safe='')}")
                except PaperFatalError as exc:
                    if exc.code not in (ReasonCode.ORDER_NOT_OPEN, ReasonCode.ORDER_NOT_FOUND):
                        raise

    # -- queries --------------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The venue's view of one order, or None when it never saw that id."""
        http = self._require()
        raw = await http.request("GET", f"/orders/{quote(client_order_id, safe='')}",
                                 missing_ok=True)
        return None if raw is None else parse.decode(raw, OrderStatusReport, "order")

    async def open_orders(self) -> list[OrderStatusReport]:
        """This node's orders that can still fill (all orders when the owner is "")."""
        raw = await self._call("GET", "/orders", params=self._owned({"open": "true"}))
        return parse.decode(raw, list[OrderStatusReport], "orders")

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """This node's fills at or after ``ts_ns`` (venue market data time), oldest first."""
        raw = await self._call("GET", "/fills", params=self._owned({"since": str(ts_ns)}))
        return parse.decode(raw, list[FillReport], "fills")

    async def positions(self) -> list[PositionReport]:
        """The account's net positions (shared by every node on the account)."""
        return parse.decode(await self._call("GET", "/positions"), list[PositionReport],
                            "positions")

    async def account(self) -> AccountReport:
        """The account's balances."""
        return parse.decode(await self._call("GET", "/account"), AccountReport, "account")

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """What the venue trades (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the venue does not trade.
        """
        found = parse.decode(await self._call("GET", "/instruments"), list[Instrument],
                             "instruments")
        return pick_instruments(found, symbols, f"the paper venue at {self.config.url}")

    # -- the stream -----------------------------------------------------------------------------

    async def _run_stream(self) -> None:
        delay = self.config.reconnect_initial_s
        while not self._closing:
            try:
                await self._read_stream()
                delay = self.config.reconnect_initial_s
            except asyncio.CancelledError:
                raise
            except PaperFatalError as exc:
                if exc.code == ReasonCode.UNAUTHORIZED:
                    logger.error("paper venue refused the stream", extra={"fields": {
                        "error": str(exc)}})
                    self._fatal = exc
                    self._ready.set()
                    return
                logger.error("paper venue stream failed", extra={"fields": {"error": str(exc)}})
            except (VenueError, ConnectionClosed, OSError) as exc:
                logger.warning("paper venue stream lost", extra={"fields": {
                    "error": f"{type(exc).__name__}: {exc}", "last_seq": self.last_seq}})
            if self._closing:
                return
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _read_stream(self) -> None:
        http = self._require()
        websocket = await http.open_stream(events=True)
        try:
            hello = parse.decode_stream(await websocket.recv())
            if not isinstance(hello, HelloMessage):
                raise PaperFatalError("MALFORMED", "the stream did not start with a hello")
            if self._last_seq is None:
                self._last_seq = hello.last_seq
            else:
                await self._catch_up(hello.last_seq)
            self._ready.set()
            async for raw in websocket:
                message = parse.decode_stream(raw)
                if isinstance(message, EventMessage):
                    await self._receive(message)
        finally:
            if self._fatal is None:
                self._ready.clear()
            await websocket.close()

    async def _receive(self, message: EventMessage) -> None:
        if message.seq <= self.last_seq:
            self.duplicates_dropped += 1
            return
        if message.seq > self.last_seq + 1:
            await self._catch_up(message.seq)
            if message.seq <= self.last_seq:
                return
        self._deliver(message)

    async def _catch_up(self, target: int) -> None:
        """Fetch and deliver the events up to seq ``target`` (at least)."""
        while self.last_seq < target:
            raw = await self._call("GET", "/events", params={
                "since_seq": str(self.last_seq), "limit": str(self.config.page_size)})
            answer = parse.decode(raw, EventsAnswer, "events")
            self.gap_fills += 1
            if not answer.events:
                logger.warning("paper venue has no events up to the seq it announced",
                               extra={"fields": {"last_seq": self.last_seq, "target": target}})
                return
            for message in answer.events:
                if message.seq > self.last_seq:
                    self._deliver(message)

    def _deliver(self, message: EventMessage) -> None:
        self._last_seq = message.seq
        if self.config.owner and message.owner != self.config.owner:
            return
        event = parse.event_from_message(message)
        if self._handler is None:
            logger.warning("paper venue event with no handler bound", extra={"fields": {
                "seq": message.seq, "kind": message.kind}})
            return
        try:
            self._handler(event)
        except Exception:  # the handler's failure must not stop the stream
            logger.exception("order event handler failed", extra={"fields": {
                "seq": message.seq, "kind": message.kind}})

    # -- helpers --------------------------------------------------------------------------------

    def _require(self) -> PaperHttpClient:
        if self._http is None:
            raise PaperRetryableError("NOT_CONNECTED", "the paper venue client is not connected")
        return self._http

    async def _call(self, method: str, path: str, *, body: bytes | None = None,
                    params: dict[str, str] | None = None) -> bytes:
        raw = await self._require().request(method, path, body=body, params=params)
        assert raw is not None
        return raw

    def _owned(self, params: dict[str, str]) -> dict[str, str]:
        if self.config.owner:
            params["owner"] = self.config.owner
        return params


__all__ = ["PaperExecutionClient"]
