"""The execution client over Alpaca (:class:`AlpacaExecutionClient`).

Orders carry our client order id as Alpaca's ``client_order_id``, so a lost answer is
resolved by looking the id up (Alpaca also refuses an id it has seen: such a refusal is taken
as the order being there, and the order is read). Order events come from the REST answers,
from the trade updates stream (``new``, ``fill``, ``partial_fill``, ``canceled``,
``expired``, ``replaced``, ``rejected``...) and from REST sweeps of the working orders: at
once whenever the stream (re)connects, so what happened while it was down reaches the node,
and every ``sweep_interval_s`` as a safety net. Every source goes through one
:class:`~.tracking.OrderTracker`: a duplicated, late or reordered update never books a fill
twice (Alpaca's execution ids, also the tail of its activity ids).

Brackets, OTO and OCO groups are Alpaca's own order classes (:mod:`.groups`); a modify is
Alpaca's replace, which makes a new order the tracker follows. Trailing stops (by price or
percent) are Alpaca's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from decimal import Decimal
from functools import partial
from typing import Any

from tradeloop.brokers.alpaca import orders, parse
from tradeloop.brokers.alpaca.client import AlpacaClient, TradeUpdates, run_stream, stop_stream
from tradeloop.brokers.alpaca.errors import AlpacaFatalError
from tradeloop.brokers.alpaca.groups import Group, is_sender
from tradeloop.brokers.alpaca.ids import LegBook
from tradeloop.brokers.alpaca.lookup import AlpacaLookup, Raw
from tradeloop.brokers.alpaca.tracking import ZERO, OrderTracker
from tradeloop.brokers.base import cancel_tasks
from tradeloop.core.errors import VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport

logger = logging.getLogger(__name__)

_ORPHANS = 500
_UNSURE = ("NOT_CANCELABLE", "NOT_FOUND", "NOT_REPLACEABLE")


class AlpacaExecutionClient(AlpacaLookup):
    """A node's orders on one Alpaca account.

    Parameters
    ----------
    client : AlpacaClient
    legs : LegBook
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: AlpacaClient, legs: LegBook, capabilities: VenueCapabilities,
                 venue: str = "ALPACA") -> None:
        super().__init__(client, OrderTracker(time.time_ns), legs, venue)
        self.capabilities = capabilities
        self._stream: TradeUpdates | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening = asyncio.Event()
        self._orphans: dict[str, list[dict[str, Any]]] = {}
        self._catching_up: set[str] = set()
        self._connected = False
        #: REST sweeps of the working orders run so far.
        self.sweeps = 0
        #: Trade updates received.
        self.stream_updates = 0
        #: Times the trading stream (re)started listening.
        self.stream_connects = 0

    # -- connection ---------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    @property
    def listening(self) -> bool:
        """True while the trade updates stream listens."""
        return self._listening.is_set()

    async def connect(self) -> None:
        """Check the keys, start the trade updates and the sweeps.

        Raises
        ------
        AlpacaAuthenticationError
            Alpaca refused the keys.
        AlpacaRetryableError
            Alpaca cannot be reached.
        """
        if self._connected:
            return
        await self.account()
        self._connected = True
        self._listening = asyncio.Event()
        self._stream = self.client.trade_updates(self._on_update, self._on_listening)
        self._stream_task = run_stream(self._stream, "alpaca-trade-updates")
        self._sweep_task = asyncio.get_running_loop().create_task(self._sweep_loop(),
                                                                  name="alpaca-sweeps")
        if self.config.stream_wait_s > 0:
            try:
                await asyncio.wait_for(self._listening.wait(), self.config.stream_wait_s)
            except TimeoutError:
                logger.warning("the trade updates stream does not listen yet: orders are "
                               "followed by REST until it does",
                               extra={"fields": {"wait_s": self.config.stream_wait_s}})

    async def disconnect(self) -> None:
        """Stop the trade updates and the sweeps."""
        if not self._connected:
            return
        self._connected = False
        stream, self._stream = self._stream, None
        if stream is not None:
            await stop_stream(stream, self._stream_task)
        self._stream_task = None
        self._listening.clear()
        tasks = [self._sweep_task, *self._tasks]
        self._sweep_task = None
        await cancel_tasks(*tasks)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- commands -----------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send a new order (a bracket, OTO or OCO group as one Alpaca order).

        Raises
        ------
        AlpacaFatalError
            Alpaca (or the adapter, for an order Alpaca cannot take) refused it: the router
            rejects the order. The PDT protection is ``PDT_PROTECTION``.
        AlpacaRetryableError, AlpacaOutcomeUnknownError
        """
        self.tracker.add(order)
        key = orders.group_key(order)
        if key is not None:
            await self._submit_member(order, key)
            return
        request = orders.build_request(order, extended_default=self.config.extended_hours)
        await self._post(order.client_order_id, request)

    async def _submit_member(self, order: Order, key: str) -> None:
        group = self.groups.register(order, key)
        if not is_sender(order, key):
            return  # the sender sends the group; this order's events follow from its legs
        try:
            shape = await self.groups.assembled(group, self.config.group_wait_s)
            request = orders.build_group(shape, extended_default=self.config.extended_hours)
            await self._post(shape.main.client_order_id, request)
        except AlpacaFatalError as exc:
            if not group.failed:
                self.groups.refuse(group, exc.reason)
            self._reject_members(group, order, exc.reason)
            raise
        group.sent = True

    def _reject_members(self, group: Group, sender: Order, reason: str) -> None:
        for cid in group.members:
            if cid != sender.client_order_id:
                self.tracker.reject(cid, f"its contingent group was refused: {reason}")

    async def _post(self, client_order_id: str, request: Any) -> None:
        try:
            raw = await self.client.call(f"submit {client_order_id}", lambda: self.client
                                         .trading.submit_order(request), state_change=True)
        except AlpacaFatalError as exc:
            if exc.code != "DUPLICATE_CLIENT_ORDER_ID":
                raise
            found = await self.find_by_client_id(client_order_id)
            if found is None:
                raise
            logger.warning("Alpaca has this client order id already: taking that order",
                           extra={"fields": {"client_order_id": client_order_id}})
            raw = found
        self._apply_raw(client_order_id, dict(raw))

    async def cancel_order(self, order: Order) -> None:
        """Ask Alpaca to cancel a working order (the cancellation arrives as an event).

        Raises
        ------
        AlpacaFatalError
            Alpaca has no such order, or it has filled.
        """
        cid = order.client_order_id
        venue_id = await self._venue_order_id(order)
        try:
            await self.client.call(f"cancel {cid}", lambda: self.client.trading
                                   .cancel_order_by_id(venue_id), state_change=True)
        except AlpacaFatalError as exc:
            if exc.code not in _UNSURE:
                raise
            await self._refresh(cid)
            known = self.tracker.get(cid)
            if known is not None and known.closed:
                return  # it had ended: its final event went out with the refresh
            raise AlpacaFatalError(exc.code, f"{cid} cannot be cancelled: {exc.reason}",
                                   exc.status) from None
        self._spawn(self._refresh_later(cid))

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Replace the working order with the changes (Alpaca's modify makes a new order,
        which carries ``<id>.r<n>``); ``quantity`` is the new total, filled part included.

        Raises
        ------
        AlpacaFatalError
            Alpaca refused the change, or a fractional quantity (Alpaca replaces whole shares).
        """
        cid = order.client_order_id
        venue_id = await self._venue_order_id(order)
        known = self.tracker.get(cid)
        assert known is not None
        filled = max(known.filled, known.venue_filled)
        new_id = parse.replacement_id(cid, known.replacements + 1)
        request = orders.replace_request(
            order, remaining=quantity - filled if quantity is not None else None, price=price,
            trigger_price=trigger_price, client_order_id=new_id)
        try:
            raw = await self.client.call(f"modify {cid}", lambda: self.client.trading
                                         .replace_order_by_id(venue_id, request),
                                         state_change=True)
        except AlpacaFatalError as exc:
            found = await self.find_by_client_id(new_id) \
                if exc.code == "DUPLICATE_CLIENT_ORDER_ID" else None
            if found is None:
                if exc.code in _UNSURE:
                    self._spawn(self._refresh(cid))
                raise AlpacaFatalError(exc.code, f"modify of {cid} refused: {exc.reason}",
                                       exc.status) from None
            raw = found
        old = await self.get_order(venue_id)
        carried, value = known.carried, known.carried_value
        if old is not None:
            snap = parse.snapshot(old)
            carried += snap.filled_qty
            value += (snap.avg_px or ZERO) * snap.filled_qty
        new = parse.snapshot(dict(raw))
        if self.legs.venue_id(cid):
            self.legs.link(new.venue_order_id, cid)
        self.tracker.replaced(cid, new.report(cid, carried, value), new.venue_client_id,
                              carried, value)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every working order (of ``symbol`` when given); the cancellations arrive as
        events."""
        if symbol is None:
            await self.client.call("cancel all", self.client.trading.cancel_orders,
                                   state_change=True)
        else:
            for raw in await self.list_open():
                if parse.slashed(str(raw.get("symbol")), self._crypto) != symbol or \
                        raw.get("status") == "replaced":
                    continue
                venue_id = str(raw.get("id"))
                try:
                    await self.client.call(f"cancel #{venue_id}", partial(
                        self.client.trading.cancel_order_by_id, venue_id), state_change=True)
                except AlpacaFatalError as exc:
                    if exc.code not in _UNSURE:
                        raise
        for known in self.tracker.working():
            if symbol is None or known.symbol == symbol:
                self._spawn(self._refresh_later(known.client_order_id))

    async def _venue_order_id(self, order: Order) -> str:
        known = self.tracker.get(order.client_order_id)
        if known is not None and known.venue_order_id:
            return known.venue_order_id
        if await self.order_status(order.client_order_id) is None:
            raise AlpacaFatalError("NOT_FOUND", f"{order.client_order_id} is unknown to Alpaca")
        known = self.tracker.get(order.client_order_id)
        assert known is not None
        return known.venue_order_id

    # -- events -------------------------------------------------------------------------------

    def _apply_raw(self, cid: str, raw: Raw, fill: FillReport | None = None) -> None:
        """Apply an Alpaca order snapshot of our order ``cid`` (with an execution)."""
        known = self.tracker.get(cid)
        if known is None:
            return
        snap = parse.snapshot(raw)
        for ours, leg in self.link_legs(cid, raw):
            self._apply_raw(ours, leg)
            for data in self._orphans.pop(str(leg.get("id")), []):
                self._on_update_data(data)
        fresh = bool(known.chain) and snap.venue_order_id not in known.chain
        if not fresh:
            self.tracker.link(known, snap.venue_order_id, snap.venue_client_id)
        if fill is not None:
            self.tracker.on_fill(fill)
        if fresh or (snap.status == "replaced" and snap.replaced_by not in known.chain):
            self._spawn(self._refresh(cid))  # a replacement not followed yet
            return
        if snap.status == "replaced":
            return
        report = snap.report(cid, known.carried, known.carried_value)
        self.tracker.on_report(report)
        if self.tracker.missing_fills(report) and cid not in self._catching_up:
            self._catching_up.add(cid)
            self._spawn(self._late_fills(cid))

    def found_main(self, main_cid: str, raw: Raw) -> None:
        """A lookup found the main order of a contingent group: its legs' events follow."""
        self._apply_raw(main_cid, raw)

    async def _on_update(self, msg: dict[str, Any]) -> None:
        try:
            self.stream_updates += 1
            self._on_update_data(msg.get("data") or {})
        except Exception:  # one bad update must not stop the stream
            logger.exception("trade update not applied")

    def _on_update_data(self, data: dict[str, Any]) -> None:
        raw = dict(data.get("order") or {})
        cid = self.tracked(raw)
        if cid is None:
            venue_id = str(raw.get("id") or "")
            if venue_id and len(self._orphans) < _ORPHANS:
                self._orphans.setdefault(venue_id, []).append(data)  # a leg not linked yet
            return
        self._apply_raw(cid, raw, parse.fill_from_update(data, cid))

    def _on_listening(self) -> None:
        self.stream_connects += 1
        self._listening.set()
        logger.info("trade updates stream listening", extra={"fields": {
            "connects": self.stream_connects}})
        if self.tracker.working():
            self._spawn(self._guarded_sweep())  # what happened while it was away

    async def _late_fills(self, cid: str) -> None:
        try:
            await asyncio.sleep(self.config.fill_grace_s)
            known = self.tracker.get(cid)
            if known is not None and known.venue_filled > known.filled:
                await self._fetch_fills(cid)
        except VenueError as exc:
            logger.warning("could not read an order's fills", extra={"fields": {
                "client_order_id": cid, "error": str(exc)}})
        finally:
            self._catching_up.discard(cid)

    async def _fetch_fills(self, cid: str) -> None:
        known = self.tracker.get(cid)
        if known is None:
            return
        since = (known.ts_accepted or time.time_ns()) - 60 * 10**9
        for raw in await self.activities(since):
            if str(raw.get("order_id")) in known.chain:
                self.tracker.on_fill(parse.fill_from_activity(raw, cid, self._crypto))

    async def _refresh(self, cid: str) -> None:
        """Bring one order up to date from its chain of Alpaca orders."""
        known = self.tracker.get(cid)
        if known is None:
            return
        chain = await self.chain(cid)
        if not chain:
            return
        for raw in chain:
            self.tracker.link(known, str(raw.get("id")), str(raw.get("client_order_id") or ""))
        report = self.report_of(cid, chain)
        known.carried = report.quantity - (parse.dec(chain[-1].get("qty")) or ZERO)
        known.carried_value = sum(((parse.snapshot(r).avg_px or ZERO)
                                   * parse.snapshot(r).filled_qty for r in chain[:-1]), ZERO)
        for ours, leg in self.link_legs(cid, chain[-1]):
            self._apply_raw(ours, leg)
        self.tracker.on_report(report)
        if self.tracker.missing_fills(report):
            await self._fetch_fills(cid)

    async def _refresh_later(self, cid: str) -> None:
        await asyncio.sleep(self.config.fill_grace_s + 0.5)
        known = self.tracker.get(cid)
        if known is None or known.done:
            return
        try:
            await self._refresh(cid)
        except VenueError as exc:
            logger.warning("order refresh failed", extra={"fields": {
                "client_order_id": cid, "error": str(exc)}})

    # -- sweeps -------------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            self.tracker.forget_done()
            if self.tracker.working():
                await self._guarded_sweep()

    async def _guarded_sweep(self) -> None:
        try:
            await self.sweep()
        except asyncio.CancelledError:
            raise
        except VenueError as exc:
            logger.warning("order sweep failed", extra={"fields": {"error": str(exc)}})
        except Exception:
            logger.exception("order sweep failed unexpectedly")

    async def sweep(self) -> None:
        """Bring every working order up to date over REST."""
        self.sweeps += 1
        working = [k for k in self.tracker.working() if k.chain]
        if not working:
            return
        listed = {str(r.get("id")): r for r in await self.list_open()}
        for known in working:
            raw = listed.get(known.venue_order_id)
            if raw is not None and raw.get("status") != "replaced":
                self._apply_raw(known.client_order_id, raw)
            else:
                await self._refresh(known.client_order_id)


__all__ = ["AlpacaExecutionClient"]
