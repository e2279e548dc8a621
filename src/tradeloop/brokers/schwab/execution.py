"""The execution client over Schwab's Trader API (:class:`SchwabExecutionClient`).

Orders are placed with ``POST /accounts/{hash}/orders`` (201, the id in ``Location``), changed
with ``PUT`` (Schwab replaces the order: a new ``orderId`` carries the same client order id),
cancelled with ``DELETE``. Schwab pushes no order events here: the working orders are polled
(``GET /orders`` over the time they were entered, every ``poll_interval_s``), and each command
is followed by a read of the order it touched, so its answer reaches the node at once. Every
snapshot goes through one :class:`~.tracking.OrderTracker`, so an execution listed twice or out
of order is booked once.

Idempotency without client order ids: see :mod:`.journal` and :mod:`.lookup`. Linked orders
(OCO, OTO, brackets) go to Schwab as one order tree: the first order of a group waits (up to
``group_wait_s``) for the rest, then the tree is sent once and every member learns the outcome.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import cancel_tasks, pick_instruments
from tradeloop.brokers.schwab import orders, parse
from tradeloop.brokers.schwab.client import SchwabClient
from tradeloop.brokers.schwab.config import SchwabConfig
from tradeloop.brokers.schwab.errors import (
    SchwabFatalError,
    SchwabLoginError,
    SchwabOutcomeUnknownError,
    SchwabRetryableError,
)
from tradeloop.brokers.schwab.journal import OrderJournal, Send
from tradeloop.brokers.schwab.lookup import OrderLocator
from tradeloop.brokers.schwab.orders import Layout
from tradeloop.brokers.schwab.tracking import OrderTracker
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.enums import ContingencyType, OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
FOREIGN_PREFIX = "SCHWAB-"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SchwabExecutionClient:
    """A node's orders at Schwab.

    Parameters
    ----------
    client : SchwabClient
        Shared with the market data client.
    journal_path : Path
        Where the order journal is kept (under the node's home).
    capabilities : VenueCapabilities
    """

    def __init__(self, client: SchwabClient, journal_path: Path,
                 capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config: SchwabConfig = client.config
        self.journal_path = journal_path
        self.journal = OrderJournal(journal_path)
        self.locator = OrderLocator(client, self.journal, self.config.match_window_s,
                                    self.config.listing_delay_s)
        self.venue = self.config.venue
        self.capabilities = capabilities
        self.tracker = OrderTracker(time.time_ns)
        self._waiting: dict[str, Order] = {}
        self._outcomes: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        #: Polls of the working orders run so far.
        self.polls = 0

    # -- connection ---------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    async def connect(self) -> None:
        """Check the saved login, find the account, read the journal, start polling.

        Raises
        ------
        SchwabLoginError
            No usable login (one line telling the user to log in).
        SchwabRetryableError
            Schwab cannot be reached.
        """
        if self._connected:
            return
        self.client.tokens.check()
        await self.client.open()
        try:
            await self.client.account_hash()
        except BaseException:
            await self.client.close()
            raise
        self.journal = OrderJournal.open(self.journal_path)
        self.locator = OrderLocator(self.client, self.journal, self.config.match_window_s,
                                    self.config.listing_delay_s)
        self._connected = True
        self._task = asyncio.get_running_loop().create_task(self._poll_loop(),
                                                            name="schwab-order-poll")

    async def disconnect(self) -> None:
        """Stop polling and release the connection."""
        task, self._task = self._task, None
        await cancel_tasks(task)
        if self._connected:
            self._connected = False
            await self.client.close()

    # -- commands -----------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Place an order (with the rest of its group, when it is linked).

        Raises
        ------
        SchwabFatalError
            Refused (buying power, a bad price, an unsupported shape).
        SchwabRetryableError, SchwabOutcomeUnknownError
        """
        self.tracker.add(order)
        if orders.is_linked(order):
            await self._submit_linked(order)
            return
        held = await self._held(order.symbol)
        body = self._single(order, held)
        await self._send(order.client_order_id, Layout(order.client_order_id), body,
                         f"submit {order.client_order_id}")

    async def cancel_order(self, order: Order) -> None:
        """Cancel a working order (a TRIGGER parent takes its waiting children with it).

        Raises
        ------
        SchwabFatalError
            NOT_FOUND when Schwab has no such order; REFUSED when it is not cancelable.
        """
        order_id = await self._order_id(order.client_order_id)
        await self.client.cancel_order(order_id, f"cancel {order.client_order_id}")
        await self._refresh(order.client_order_id)

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Replace a working order with one of the new quantity and prices (Schwab's replace:
        a new ``orderId`` carries the same client order id).

        Raises
        ------
        SchwabFatalError
            NOT_SUPPORTED for a leg of a linked group or a partly filled order.
        """
        cid = order.client_order_id
        send = self.journal.send_of(cid)
        if send is not None and len(send.layout.walk()) > 1:
            raise SchwabFatalError("NOT_SUPPORTED", "Schwab cannot replace one order of an OCO "
                                   "or TRIGGER group: cancel the group and send it again")
        current = await self._order_id(cid)
        node = await self.client.order(current)
        if node is None:
            raise SchwabFatalError("NOT_FOUND", f"{cid} is not at Schwab")
        if parse.executions(node):
            raise SchwabFatalError("NOT_SUPPORTED", f"{cid} has partly filled: Schwab would "
                                   "replace it as a new order; cancel it instead")
        changed = copy.copy(order)
        changed.quantity = quantity if quantity is not None else order.quantity
        changed.price = price if price is not None else order.price
        changed.trigger_price = trigger_price if trigger_price is not None \
            else order.trigger_price
        leg = (node.get("orderLegCollection") or [{}])[0]
        body = orders.single_json(changed, str(leg.get("instruction")),
                                  str(node.get("session") or self.config.session),
                                  self.config.trailing_basis)
        what = f"modify {cid}"
        replace = Send(cid, Layout(cid), orders.fingerprint(body), _now_ms(),
                       replacing=current)
        self.locator.guard(replace.fingerprint, cid)
        self.journal.record_send(replace)
        try:
            new_id = await self.client.replace_order(current, body, what)
        except SchwabOutcomeUnknownError:
            self.locator.unclear(replace)
            raise
        except VenueError:
            self.journal.resolve(replace, None)
            raise
        self.journal.link(cid, new_id, save=False)
        self.journal.resolve(replace, new_id)
        await self._refresh(cid)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order of the account (of ``symbol`` when given)."""
        for node in await self._open_nodes():
            if symbol is not None and parse.symbol_of(node) != symbol:
                continue
            order_id = int(node["orderId"])
            try:
                await self.client.cancel_order(order_id, f"cancel #{order_id}")
            except SchwabFatalError as exc:  # filled or cancelled meanwhile (a group's leg)
                logger.info("order not cancelable", extra={"fields": {
                    "order_id": order_id, "error": str(exc)}})
        await self._poll()

    # -- queries ------------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """Schwab's view of one order, None when Schwab never got it. A send whose answer was
        lost is searched for first (see :mod:`.lookup`); the order is tracked from then on."""
        send = self.journal.send_of(client_order_id)
        if send is not None and not send.resolved:
            await self.locator.resolve(send)
        ids = self.journal.chain(client_order_id)
        if not ids:
            if client_order_id.startswith(FOREIGN_PREFIX):
                tail = client_order_id.removeprefix(FOREIGN_PREFIX)
                ids = [int(tail)] if tail.isdigit() else []
            if not ids:
                return None
        node = await self.client.order(ids[-1])
        if node is None:
            return None
        chain = [n for n in [await self.client.order(i) for i in ids[:-1]] if n is not None]
        report = parse.order_report(node, client_order_id, chain)
        self._taken(report)
        return report

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every order of the account that can still fill."""
        await self._settle_unresolved()
        out = []
        for node in await self._open_nodes():
            report = parse.order_report(node, self._owner(node))
            self._taken(report)
            out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Executions at or after ``ts_ns`` of orders entered up to ``fills_lookback_days``
        before it, oldest first."""
        await self._settle_unresolved()
        start = max(0, ts_ns // 1_000_000 - self.config.fills_lookback_days * DAY_MS)
        out = []
        for root in await self.client.orders(start, _now_ms() + DAY_MS):
            for node in orders.walk_json(root):
                if node.get("orderStrategyType") == "OCO":
                    continue
                for fill in parse.fill_reports(node, self._owner(node)):
                    if fill.ts >= ts_ns:
                        self.tracker.seen(fill)
                        out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def positions(self) -> list[PositionReport]:
        """Net positions of the account."""
        return parse.position_reports(await self.client.account(positions=True))

    async def account(self) -> AccountReport:
        """Balances of the account (USD)."""
        return parse.account_report(await self.client.account(positions=False),
                                    time.time_ns())

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """Instruments from Schwab's quotes and reference data (``symbols``, else the
        settings' ``symbols``).

        Raises
        ------
        ConfigError
            A symbol Schwab does not list.
        """
        wanted = list(symbols) if symbols is not None else list(self.config.symbols)
        if not wanted:
            return []
        quotes = await self.client.quotes(wanted)
        available = [parse.instrument_of(s, quotes[s], self.venue,
                                         self.config.option_multiplier)
                     for s in wanted if isinstance(quotes.get(s), dict)]
        return pick_instruments(available, wanted, "Schwab")

    # -- sending ------------------------------------------------------------------------------

    def _single(self, order: Order, held: Decimal) -> dict[str, Any]:
        return orders.single_json(order, orders.instruction_for(order, held),
                                  self.config.session, self.config.trailing_basis)

    async def _send(self, head: str, layout: Layout, body: dict[str, Any], what: str) -> None:
        send = Send(head, layout, orders.fingerprint(body), _now_ms())
        self.locator.guard(send.fingerprint, head)
        self.journal.record_send(send)
        try:
            root_id = await self.client.place_order(body, what)
        except SchwabOutcomeUnknownError:
            self.locator.unclear(send)
            raise
        except VenueError:
            self.journal.resolve(send, None)  # refused: nothing was placed
            self.locator.settled(send)
            raise
        send.root_id = root_id
        self.journal.link(head, root_id, save=False)
        self.journal.resolve(send, root_id)
        self.locator.settled(send)
        try:
            await self.locator.link_tree(send, None)
            for place in layout.walk():
                if place.client_order_id:
                    await self._refresh(place.client_order_id)
        except VenueError as exc:  # placed: the poll brings the rest
            logger.warning("order placed; reading it back failed", extra={"fields": {
                "client_order_id": head, "error": str(exc)}})

    async def _submit_linked(self, order: Order) -> None:
        cid = order.client_order_id
        self._waiting[cid] = order
        outcome = self._outcomes.setdefault(cid, asyncio.get_running_loop().create_future())
        members = self._complete_group(order)
        if members is None:
            try:
                await asyncio.wait_for(asyncio.shield(outcome), self.config.group_wait_s)
            except TimeoutError:
                self._waiting.pop(cid, None)
                self._outcomes.pop(cid, None)
                missing = sorted(orders.group_ids(order) - set(self._waiting) - {cid})
                raise SchwabFatalError("INCOMPLETE_GROUP", f"{cid}: its linked orders "
                                       f"{', '.join(missing)} never arrived") from None
            return
        others = [f for f in (self._outcomes.pop(m.client_order_id) for m in members)
                  if f is not outcome]
        try:
            await self._send_group(members)
        except Exception as exc:
            for future in others:
                if not future.done():
                    future.set_exception(exc)
            raise
        except BaseException:
            for future in others:
                future.cancel()
            raise
        for future in others:
            if not future.done():
                future.set_result(None)

    def _complete_group(self, order: Order) -> list[Order] | None:
        wanted = orders.group_ids(order)
        while True:
            more = set(wanted)
            for cid in wanted:
                member = self._waiting.get(cid)
                if member is not None:
                    more |= orders.group_ids(member)
            if more == wanted:
                break
            wanted = more
        if not wanted <= set(self._waiting):
            return None
        members = [self._waiting.pop(cid) for cid in list(self._waiting) if cid in wanted]
        return members

    async def _send_group(self, members: list[Order]) -> None:
        held = await self._held(members[0].symbol)
        parent = next((m for m in members if m.contingency is ContingencyType.OTO
                       and not m.parent_id), None)
        after = held
        if parent is not None:
            after += parent.quantity if parent.side is OrderSide.BUY else -parent.quantity

        def node_of(member: Order) -> dict[str, Any]:
            return self._single(member, after if member.parent_id else held)

        body, layout = orders.group_json(members, node_of)
        await self._send(members[0].client_order_id, layout, body,
                         f"submit group {members[0].client_order_id}")

    async def _settle_unresolved(self) -> None:
        """Look up every send whose answer was lost (before a restart, too), so Schwab's
        orders are reported under our client order ids, not as someone else's."""
        for send in list(self.journal.unresolved()):
            try:
                await self.locator.resolve(send)
            except SchwabRetryableError as exc:  # too recent to be sure: asked again later
                logger.info("an unclear order is not settled yet", extra={"fields": {
                    "client_order_id": send.head, "error": str(exc)}})

    async def _held(self, symbol: str) -> Decimal:
        """The account's position in ``symbol`` now (for the order's instruction)."""
        return sum((p.quantity for p in await self.positions() if p.symbol == symbol),
                   Decimal(0))

    async def _order_id(self, client_order_id: str) -> int:
        current = self.journal.current(client_order_id)
        if current is None:
            report = await self.order_status(client_order_id)
            current = int(report.venue_order_id) if report is not None else None
        if current is None:
            raise SchwabFatalError("NOT_FOUND", f"{client_order_id} is not at Schwab")
        return current

    # -- events -------------------------------------------------------------------------------

    def _owner(self, node: dict[str, Any] | Any) -> str:
        order_id = int(node.get("orderId", 0))
        return self.journal.owner(order_id) or f"{FOREIGN_PREFIX}{order_id}"

    def _taken(self, report: OrderStatusReport) -> None:
        # the caller (the router's lookup, reconciliation) applies this report itself
        known = self.tracker.adopt(report)
        known.accepted = known.accepted or report.status.value != "REJECTED"
        known.unidentified = max(known.unidentified, report.filled_qty - known.filled)
        known.closed = known.closed or report.status.value in ("CANCELED", "EXPIRED",
                                                                "REJECTED")

    async def _refresh(self, client_order_id: str) -> None:
        ids = self.journal.chain(client_order_id)
        if not ids or not self.tracker.tracks(client_order_id):
            return
        node = await self.client.order(ids[-1])
        if node is None:
            return
        chain = [n for n in [await self.client.order(i) for i in ids[:-1]] if n is not None]
        self._apply(client_order_id, node, chain)

    def _apply(self, cid: str, node: dict[str, Any], chain: list[dict[str, Any]]) -> None:
        report = parse.order_report(node, cid, chain)
        fills = [f for n in (*chain, node) for f in parse.fill_reports(n, cid)]
        self.tracker.apply(report, sorted(fills, key=lambda f: (f.ts, f.trade_id)))

    async def _open_nodes(self) -> list[dict[str, Any]]:
        start = _now_ms() - self.config.fills_lookback_days * DAY_MS
        found = []
        for root in await self.client.orders(start, _now_ms() + DAY_MS):
            for node in orders.walk_json(root):
                if node.get("orderStrategyType") != "OCO" and \
                        str(node.get("status")) in parse.OPEN_STATUSES:
                    found.append(dict(node))
        return found

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            if not self.tracker.working():
                continue
            try:
                await self._poll()
            except asyncio.CancelledError:
                raise
            except SchwabLoginError as exc:
                logger.error("Schwab login lost: order polling stopped", extra={"fields": {
                    "error": str(exc)}})
                return
            except (VenueError, ConfigError) as exc:
                logger.warning("order poll failed", extra={"fields": {"error": str(exc)}})
            except Exception:
                logger.exception("order poll failed unexpectedly")

    async def _poll(self) -> None:
        """Bring every working order up to Schwab's state."""
        self.polls += 1
        working = [k for k in self.tracker.working() if self.journal.chain(k.client_order_id)]
        if not working:
            return
        oldest = min((k.entered_ns // 1_000_000 for k in working if k.entered_ns),
                     default=_now_ms() - DAY_MS)
        nodes: dict[int, dict[str, Any]] = {}
        for root in await self.client.orders(oldest - 60_000, _now_ms() + DAY_MS):
            for listed in orders.walk_json(root):
                if listed.get("orderId") is not None:
                    nodes[int(listed["orderId"])] = dict(listed)
        for known in working:
            ids = self.journal.chain(known.client_order_id)
            node = nodes.get(ids[-1]) or await self.client.order(ids[-1])
            if node is None:
                continue
            chain = [n for n in (nodes.get(i) for i in ids[:-1]) if n is not None]
            self._apply(known.client_order_id, node, chain)


__all__ = ["FOREIGN_PREFIX", "SchwabExecutionClient"]
