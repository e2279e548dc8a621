"""The execution client over Fyers' API v3 (:class:`FyersExecutionClient`).

Orders carry our client order id as their ``orderTag`` (:mod:`.ids`), so a lost answer is
resolved by looking the tag up in the order book, and the adapter itself never sends an id a
second time once Fyers may have it. Order events come from the answers themselves, from the
order socket (:mod:`.stream`) and from a sweep of the order book; fills come from the trade book
(one event per trade number), whichever told first. Every source goes through one
:class:`~.tracking.OrderTracker`, so a repeated or reordered update never books a fill twice.

Cover (CO) and bracket (BO) orders are sent when an order's tags ask for them
(``"product=CO;stop_loss=2"``, ``"product=BO;stop_loss=2;take_profit=5"``: Fyers' own offsets
in rupees from the fill price); see :mod:`.native` for their legs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradeloop.brokers.base import cancel_tasks
from tradeloop.brokers.fyers import parse
from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.brokers.fyers.errors import (
    IN_TRANSIT,
    FyersFatalError,
    FyersOutcomeUnknownError,
    in_transit,
)
from tradeloop.brokers.fyers.ids import OrderIds
from tradeloop.brokers.fyers.native import NativeOrders
from tradeloop.brokers.fyers.stream import OrderStream
from tradeloop.brokers.fyers.symbols import SymbolBook
from tradeloop.brokers.fyers.tracking import OrderTracker
from tradeloop.core.errors import FatalVenueError, VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.enums import TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

ORDERS = "/api/v3/orders/sync"
_OPEN = frozenset({parse.PENDING, parse.TRANSIT})
_REFUSED, _UNCERTAIN, _BOOKED = "refused", "uncertain", "booked"


class FyersExecutionClient:
    """A node's orders at Fyers.

    Parameters
    ----------
    client : FyersClient
        Shared with the market data client.
    symbols : SymbolBook
    ids : OrderIds
    capabilities : VenueCapabilities
    """

    def __init__(self, client: FyersClient, symbols: SymbolBook, ids: OrderIds,
                 capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config = client.config
        self.symbols = symbols
        self.ids = ids
        self.venue = self.config.venue
        self.capabilities = capabilities
        self.tracker = OrderTracker(time.time_ns)
        self.native = NativeOrders(self)
        self.stream = OrderStream(client, self._on_stream, self._catch_up)
        self._attempts: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._connected = False
        self._gtc_noted = False
        self.account_id = self.config.client_id
        #: Sweeps of the order book run so far.
        self.sweeps = 0

    # -- connection ----------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    async def connect(self) -> None:
        """Load the token, check it against the profile, start the order events.

        Raises
        ------
        FyersTokenError
            No login, or an expired one (the message says how to log in).
        FyersRetryableError
            Fyers cannot be reached.
        """
        if self._connected:
            return
        await self.client.open()
        try:
            profile = await self.client.request("GET", "/api/v3/profile", "profile")
        except BaseException:
            await self.client.close()
            raise
        data = _mapping(profile.get("data"))
        self.account_id = str(data.get("fy_id") or self.config.client_id)
        self._connected = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sweep_loop(), name="fyers-order-sweep")]
        if self.config.use_websockets:
            self._tasks.append(loop.create_task(self.stream.run(), name="fyers-order-socket"))

    async def disconnect(self) -> None:
        """Stop the order events and close the session."""
        tasks, self._tasks = self._tasks, []
        await cancel_tasks(*tasks)
        if self._connected:
            self._connected = False
            await self.client.close()

    # -- commands ------------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send a new order with our id as its tag (a cover or bracket order untagged, its
        intent journaled first; a child of one takes over the leg Fyers made).

        Raises
        ------
        FyersFatalError
            Refused (invalid input, RMS rejection, a type Fyers lacks): the router rejects.
        FyersRetryableError, FyersOutcomeUnknownError
        FyersTokenError
            The token is gone: the order was not sent.
        """
        cid = order.client_order_id
        if order.parent_id and self.native.is_entry(order.parent_id):
            await self.native.adopt_leg(order)
            return
        try:
            if await self._sent_before(order):
                return
        except FatalVenueError as exc:
            if self._attempts.get(cid) != _UNCERTAIN:
                raise
            # it may be at Fyers: never reject it unseen (a dead token, say); look it up later
            raise FyersOutcomeUnknownError(f"{cid} may be at Fyers and cannot be looked up: "
                                           f"{exc}") from None
        words = parse.order_tags(order)
        product = words.get("product", self.config.product_of(order.symbol)).upper()
        if order.time_in_force is TimeInForce.GTC and not self._gtc_noted:
            self._gtc_noted = True
            logger.info("fyers: GTC orders are sent as DAY orders (Fyers' regular orders "
                        "lapse at the close)", extra={"fields": {"client_order_id": cid}})
        if product in ("CO", "BO"):
            body = self.native.body(order, product, words)
        else:
            body = parse.order_body(order, product, self.ids.tag(cid))
        self.tracker.add(order)  # before sending: the socket may tell first
        try:
            answer = await self.client.request("POST", ORDERS, f"submit {cid}", body=body,
                                               state_change=True)
        except FyersOutcomeUnknownError:
            self._attempts[cid] = _UNCERTAIN
            raise
        except FatalVenueError:
            self._attempts[cid] = _REFUSED
            self.tracker.close(cid)
            raise
        except VenueError:
            self._attempts[cid] = _REFUSED
            raise
        venue_id = str(answer.get("id") or "")
        if answer.get("code") == IN_TRANSIT or not venue_id:
            self._attempts[cid] = _UNCERTAIN
            raise in_transit(f"submit {cid}")
        self._attempts[cid] = _BOOKED
        self.tracker.link(cid, venue_id)
        if product in ("CO", "BO"):
            self.ids.placed(cid, venue_id)
        await self.read_back(cid, venue_id)

    async def cancel_order(self, order: Order) -> None:
        """Ask Fyers to cancel a working order (its answer is applied at once).

        Raises
        ------
        FyersFatalError
            Not pending any more, or a leg of a cover or bracket order (cancelling one exits
            the position at the market at Fyers).
        """
        cid = order.client_order_id
        if self.native.is_leg(cid):
            await self.native.refuse_leg_cancel(order)
            return
        venue_id = await self._venue_order_id(order)
        answer = await self.client.request("DELETE", ORDERS, f"cancel {cid}",
                                           body={"id": venue_id}, state_change=True)
        if answer.get("code") == IN_TRANSIT:
            raise in_transit(f"cancel {cid}")
        await self.read_back(cid, venue_id)

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Change a working order's quantity, limit or stop price in place."""
        cid = order.client_order_id
        venue_id = await self._venue_order_id(order)
        body = parse.modify_body(venue_id, order, quantity, price, trigger_price)
        answer = await self.client.request("PATCH", ORDERS, f"modify {cid}", body=body,
                                           state_change=True)
        if answer.get("code") == IN_TRANSIT:
            raise in_transit(f"modify {cid}")
        await self.read_back(cid, venue_id)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every pending order of the account (of ``symbol`` when given); legs of cover
        and bracket orders are left to their entries."""
        book = await self.order_book()
        for entry in book:
            if int(entry.get("status") or 0) not in _OPEN or entry.get("parentId"):
                continue
            if symbol and entry.get("symbol") != symbol:
                continue
            venue_id = str(entry.get("id"))
            try:
                await self.client.request("DELETE", ORDERS, f"cancel #{venue_id}",
                                          body={"id": venue_id}, state_change=True)
            except FyersFatalError as exc:  # filled or cancelled meanwhile
                logger.info("fyers: order not cancelled", extra={"fields": {
                    "venue_order_id": venue_id, "error": str(exc)}})
        await self._sweep(force=True)

    # -- queries -------------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """Fyers' view of one order (today's order book), or None when it has none.

        The order is tracked from then on, as the caller applies the report.
        """
        entry = await self._lookup(client_order_id)
        if entry is None:
            return None
        report = parse.order_report(entry, client_order_id)
        self._attempts[client_order_id] = _BOOKED
        self._taken(report)
        return report

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every pending order of the account."""
        book = await self.order_book()
        out = []
        for entry in book:
            if int(entry.get("status") or 0) not in _OPEN:
                continue
            report = parse.order_report(entry, self.cid_of(entry, book))
            self._taken(report)
            out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Today's trades at or after ``ts_ns``, oldest first (Fyers' trade book holds the
        current day only)."""
        trades = await self._trades()
        book = await self.order_book() if any(not self.ids.ours(str(t.get("orderTag") or ""))
                                          for t in trades) else []
        by_id = {str(e.get("id")): e for e in book}
        out = []
        for trade in trades:
            fill = parse.fill_report(trade, self._trade_cid(trade, by_id, book))
            if fill.ts >= ts_ns:
                self.tracker.seen(fill)
                out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def positions(self) -> list[PositionReport]:
        """Net positions per symbol, over every product."""
        answer = await self.client.request("GET", "/api/v3/positions", "positions")
        return parse.position_reports(list(answer.get("netPositions") or []), time.time_ns())

    async def account(self) -> AccountReport:
        """Funds in rupees (the equity and commodity ledgers together)."""
        funds = await self.client.request("GET", "/api/v3/funds", "funds")
        positions = await self.client.request("GET", "/api/v3/positions", "positions")
        overall = _mapping(positions.get("overall"))
        return parse.account_report(list(funds.get("fund_limit") or []),
                                    parse.decimal(overall.get("pl_unrealized")),
                                    self.account_id, "INR", time.time_ns())

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments of ``symbols`` (the configured ones when None)."""
        wanted = list(symbols) if symbols is not None else list(self.config.symbols)
        return await self.symbols.instruments(wanted)

    # -- ids -------------------------------------------------------------------------------

    def cid_of(self, entry: dict[str, Any], book: list[dict[str, Any]] | None = None) -> str:
        """Our id of an order book entry: its tag, the order we sent, the child that took
        over a leg, or ``<entry id>.SL``/``.TP`` for a leg nobody took over; Fyers' id for an
        order the node did not send."""
        tagged = self.ids.ours(str(entry.get("orderTag") or ""))
        if tagged:
            return tagged
        venue_id = str(entry.get("id") or "")
        known = self.tracker.client_id_of(venue_id) or self.native.cid_of(venue_id)
        if known:
            return known
        parent = str(entry.get("parentId") or "")
        if parent:
            owner = next((e for e in book or () if str(e.get("id")) == parent), {"id": parent})
            suffix = "SL" if int(entry.get("type") or 0) in (3, 4) else "TP"
            return f"{self.cid_of(owner, book)}.{suffix}"
        return venue_id

    def _trade_cid(self, trade: dict[str, Any], by_id: dict[str, dict[str, Any]],
                   book: list[dict[str, Any]]) -> str:
        tagged = self.ids.ours(str(trade.get("orderTag") or ""))
        if tagged:
            return tagged
        venue_id = str(trade.get("orderNumber") or "")
        return self.cid_of(by_id.get(venue_id, {"id": venue_id}), book)

    # -- events --------------------------------------------------------------------------------

    async def read_back(self, cid: str, venue_id: str) -> None:
        """Read back an order the request just changed (never raises: the change is done)."""
        try:
            answer = await self.client.request("GET", "/api/v3/orders", f"order {cid}",
                                               params={"id": venue_id})
            for entry in answer.get("orderBook") or ():
                await self.apply(entry, cid)
        except VenueError as exc:
            logger.warning("fyers: order not read back; the sweep will", extra={"fields": {
                "client_order_id": cid, "error": str(exc)}})
            self._wake.set()

    async def apply(self, entry: dict[str, Any], cid: str, *, fills: bool = True) -> None:
        """Apply an order book entry (its trades first when it shows more filled)."""
        report = parse.order_report(entry, cid)
        self.native.note(entry, report)
        if fills and self.tracker.missing_fills(report):
            await self._apply_trades()
        self.tracker.on_report(report)

    async def _apply_trades(self) -> None:
        trades = await self._trades()
        for trade in sorted(trades, key=lambda t: int(t.get("row") or 0)):
            cid = self.ids.ours(str(trade.get("orderTag") or "")) or \
                self.tracker.client_id_of(str(trade.get("orderNumber") or "")) or ""
            if not cid:
                continue
            self.tracker.on_fill(parse.fill_report(trade, cid))

    async def _on_stream(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "trades":
            self._wake.set()
            return
        entry = parse.socket_order(payload)
        cid = self.ids.ours(str(entry.get("orderTag") or "")) or \
            self.tracker.client_id_of(str(entry.get("id") or "")) or ""
        if not cid or self.tracker.get(cid) is None:
            if entry.get("parentId"):
                self._wake.set()  # a leg of a cover or bracket order
            return
        report = parse.order_report(entry, cid)
        self.native.note(entry, report)
        self.tracker.on_report(report)
        if self.tracker.missing_fills(report):
            self._wake.set()

    async def _catch_up(self) -> None:
        self._wake.set()

    async def _sweep_loop(self) -> None:
        interval = self.config.sweep_interval_s if self.config.use_websockets \
            else self.config.poll_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            self.tracker.forget_done()
            try:
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except VenueError as exc:
                logger.warning("fyers order sweep failed", extra={"fields": {
                    "error": str(exc)}})
                await asyncio.sleep(min(interval, 1.0))
            except Exception:
                logger.exception("fyers order sweep failed unexpectedly")

    async def _sweep(self, *, force: bool = False) -> None:
        # bring every working order up to date from the order book
        working = [k for k in self.tracker.working() if k.venue_order_id or k.accepted
                   or self._attempts.get(k.client_order_id) != _REFUSED]
        if not working and not force and not self.native.waiting():
            return
        self.sweeps += 1
        book = await self.order_book()
        by_cid: dict[str, dict[str, Any]] = {}
        for entry in book:
            by_cid.setdefault(self.cid_of(entry, book), entry)
            self.native.note(entry, None)
        missing = False
        for known in working:
            found = by_cid.get(known.client_order_id)
            if found is not None:
                report = parse.order_report(found, known.client_order_id)
                missing = missing or self.tracker.missing_fills(report)
        if missing:
            await self._apply_trades()
        for known in working:
            found = by_cid.get(known.client_order_id)
            if found is not None:
                await self.apply(found, known.client_order_id, fills=False)

    # -- helpers -------------------------------------------------------------------------------

    async def _sent_before(self, order: Order) -> bool:
        # True when Fyers already has this order (then it is tracked and brought up to
        # date): never send an id twice
        cid = order.client_order_id
        state = self._attempts.get(cid)
        if state not in (_UNCERTAIN, _BOOKED):
            return False
        entry = await self._lookup(cid)
        if entry is None:
            if state == _BOOKED:
                raise FyersFatalError(f"{cid} was accepted by Fyers but is not in today's "
                                      "order book: not sent again")
            return False
        logger.warning("fyers: order already at Fyers; not sent again", extra={"fields": {
            "client_order_id": cid, "venue_order_id": entry.get("id")}})
        self.tracker.add(order)
        self.tracker.link(cid, str(entry.get("id")))
        self._attempts[cid] = _BOOKED
        await self.apply(entry, cid)
        return True

    async def _lookup(self, cid: str) -> dict[str, Any] | None:
        known = self.tracker.get(cid)
        venue_id = known.venue_order_id if known is not None else ""
        venue_id = venue_id or self.native.venue_id_of(cid)
        if venue_id:
            answer = await self.client.request("GET", "/api/v3/orders", f"order {cid}",
                                               params={"id": venue_id})
            found = list(answer.get("orderBook") or [])
            return found[0] if found else None
        if self.native.has_intent(cid) or self.native.is_leg(cid):
            return await self.native.find(cid)
        answer = await self.client.request("GET", "/api/v3/orders", f"order {cid}",
                                           params={"order_tag": f"1:{self.ids.tag(cid)}"})
        found = list(answer.get("orderBook") or [])
        if len(found) > 1:
            logger.error("fyers: several orders carry one client order id", extra={"fields": {
                "client_order_id": cid, "venue_order_ids": [e.get("id") for e in found]}})
        return found[-1] if found else None

    async def _venue_order_id(self, order: Order) -> str:
        known = self.tracker.get(order.client_order_id)
        if known is not None and known.venue_order_id:
            return known.venue_order_id
        if order.venue_order_id:
            return order.venue_order_id
        entry = await self._lookup(order.client_order_id)
        if entry is None:
            raise FyersFatalError(f"{order.client_order_id} is not in Fyers' order book")
        return str(entry.get("id"))

    def _taken(self, report: OrderStatusReport) -> None:
        # the caller (the router's lookup, reconciliation) applies this report itself
        known = self.tracker.adopt(report)
        self.tracker.link(report.client_order_id, report.venue_order_id)
        known.accepted = known.accepted or report.status.value != "REJECTED"
        known.closed = known.closed or report.status.value in ("CANCELED", "EXPIRED",
                                                                "REJECTED")

    async def order_book(self) -> list[dict[str, Any]]:
        """Today's order book of the account, as Fyers lists it."""
        answer = await self.client.request("GET", "/api/v3/orders", "order book")
        return list(answer.get("orderBook") or [])

    async def _trades(self) -> list[dict[str, Any]]:
        answer = await self.client.request("GET", "/api/v3/tradebook", "trade book")
        return list(answer.get("tradeBook") or [])


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


__all__ = ["ORDERS", "FyersExecutionClient"]
