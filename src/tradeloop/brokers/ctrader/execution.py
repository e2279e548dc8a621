"""The execution client over the Open API (:class:`CtraderExecutionClient`).

Each order carries our client order id as cTrader's ``clientOrderId``. A submit sends
``ProtoOANewOrderReq`` and waits up to ``ack_timeout_s`` for the first answer (an execution
event, or an error, whose code decides its class in :mod:`.errors`). No answer, or a connection
lost after sending, raises ``OutcomeUnknownError``: :meth:`CtraderExecutionClient.order_status`
then looks the order up by its client order id among the open orders
(``ProtoOAReconcileReq``) and the recent ones (``ProtoOAOrderListReq``). An order that was sent
is never sent again without that lookup, since cTrader does not refuse a repeated
``clientOrderId``.

Order events follow ``ProtoOAExecutionEvent`` (accepted, filled, partly filled, replaced,
cancelled, expired, rejected), each once (:mod:`.tracking`: deals by id). After a reconnection
the working orders are brought up to date from ``ProtoOAOrderDetailsReq``, so what happened
while the link was down reaches the node. Positions come from ``ProtoOAReconcileReq``, netted
per symbol; on a hedging account a market order against an open position closes it
(``positionId``) rather than opening a hedge (``close_opposite``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradeloop.brokers.base import cancel_tasks
from tradeloop.brokers.ctrader import orders, parse
from tradeloop.brokers.ctrader.client import CtraderClient, Incoming
from tradeloop.brokers.ctrader.errors import (
    NOT_WORKING,
    CtraderFatalError,
    CtraderRetryableError,
    describe,
)
from tradeloop.brokers.ctrader.messages import PT, ExecutionType, OrderType, PositionStatus
from tradeloop.brokers.ctrader.symbols import SymbolBook
from tradeloop.brokers.ctrader.tracking import Known, Tracker
from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)
_WEEK_MS = 7 * 86_400_000
_PAGE_ROWS = 1000
_MAX_PAGES = 10_000


class CtraderExecutionClient:
    """A node's orders on one cTrader account.

    Parameters
    ----------
    client : CtraderClient
        Shared with the market data client.
    book : SymbolBook
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: CtraderClient, book: SymbolBook,
                 capabilities: VenueCapabilities, venue: str = "CTRADER") -> None:
        self.client = client
        self.book = book
        self.config = client.config
        self.capabilities = capabilities
        self.venue = venue
        self.tracker = Tracker(time.time_ns)
        #: Open positions by id, from execution events and reconciliations.
        self.open_positions: dict[int, dict[str, Any]] = {}
        #: Re-synchronisations after a reconnection.
        self.resyncs = 0
        self._connected = False
        self._tasks: set[asyncio.Task[None]] = set()
        client.subscribe(self._on_message)
        client.on_ready(self._on_ready)

    # -- connection -----------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    async def connect(self) -> None:
        """Connect (shared with market data), load the trader and the open positions."""
        if self._connected:
            return
        await self.client.open()
        try:
            await self.book.trader(refresh=True)
            await self._load_positions()
        except BaseException:
            await self.client.close()
            raise
        self._connected = True

    async def disconnect(self) -> None:
        """Release the connection."""
        if not self._connected:
            return
        self._connected = False
        await cancel_tasks(*self._tasks)
        await self.client.close()

    # -- commands -------------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send a new order and wait for cTrader's first answer.

        Raises
        ------
        CtraderFatalError
            Refused (the router rejects the order), or something cTrader cannot take.
        CtraderRetryableError
            Not connected, or refused for now (rate limit): nothing was booked.
        CtraderOutcomeUnknownError
            No answer in time, or the connection dropped after sending.
        """
        await self.client.ready()
        known = self.tracker.get(order.client_order_id)
        # sent before: find it, never send it twice
        if known is not None and known.sent \
                and await self.order_status(order.client_order_id) is not None:
            return
        known = self.tracker.add(order)
        try:
            info = await self.book.info(order.symbol)
            volume = orders.check_volume(order.quantity, info)
            position_id = None
            if self.config.close_opposite and await self.book.hedging():
                position_id = orders.closing_position(self.open_positions.values(), order,
                                                      info, volume)
            body = orders.new_order(order, info, self.config.label, position_id)
        except (ConfigError, ValueError) as exc:
            known.closed = True
            raise CtraderFatalError(str(exc)) from None
        known.sent = True
        try:
            await self.client.request(PT.NEW_ORDER_REQ, body, timeout=self.config.ack_timeout_s,
                                      state_change=True)
        except CtraderRetryableError:
            known.sent = False  # nothing was booked: the router may send it again
            raise
        except CtraderFatalError:
            known.closed = True
            raise

    async def cancel_order(self, order: Order) -> None:
        """Ask cTrader to cancel a working order (the cancellation arrives as an event).

        Raises
        ------
        CtraderFatalError
            cTrader has no such working order (and it did not just end).
        """
        known = await self._known(order)
        known.cancel_requested = True
        try:
            await self.client.request(PT.CANCEL_ORDER_REQ, {"orderId": known.order_id},
                                      state_change=True)
        except CtraderFatalError as exc:
            known.cancel_requested = False
            if exc.code in NOT_WORKING:
                await self._refresh(known)  # it may have filled or ended meanwhile
                if known.closed or known.done:
                    return
            raise

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Amend a working order's volume and prices in place (``ORDER_REPLACED``).

        Raises
        ------
        CtraderFatalError
            cTrader refused the change, or it is not one cTrader can make.
        """
        known = await self._known(order)
        info = await self.book.info(order.symbol)
        try:
            body = orders.amend_order(order, known.order_id, info, quantity, price,
                                      trigger_price)
        except ValueError as exc:
            raise CtraderFatalError(str(exc)) from None
        await self.client.request(PT.AMEND_ORDER_REQ, body, state_change=True)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every pending order of the account (of ``symbol`` when given)."""
        answer = await self.client.request(PT.RECONCILE_REQ, {})
        for raw in answer.body.get("order", []):
            if int(raw.get("orderType", 0)) == OrderType.STOP_LOSS_TAKE_PROFIT:
                continue
            info = await self.book.info_by_id(int(raw["tradeData"]["symbolId"]))
            if info is None or (symbol is not None and info.name != symbol):
                continue
            known = self._adopt(raw, info, [])
            known.cancel_requested = True
            try:
                await self.client.request(PT.CANCEL_ORDER_REQ, {"orderId": known.order_id},
                                          state_change=True)
            except CtraderFatalError as exc:
                known.cancel_requested = False
                if exc.code not in NOT_WORKING:
                    raise

    # -- queries ----------------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """cTrader's view of one order, found by its client order id (None when cTrader never
        saw it). The order is tracked from then on, as the caller applies the report."""
        known = self.tracker.get(client_order_id)
        raw = None
        if known is not None and known.order_id:
            raw = await self._details(known.order_id)
        if raw is None:
            raw = await self._search(client_order_id)
        if raw is None:
            return None
        order, deals = raw
        info = await self.book.info_by_id(int(order["tradeData"]["symbolId"]))
        if info is None:
            return None
        currency = await self.book.currency()
        fills = [f for f in (parse.fill_report(d, info, client_order_id, currency)
                             for d in deals) if f is not None]
        report = parse.order_report(order, info, fills, self._reason(order))
        self.tracker.adopt(report, fills)
        return report

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every pending order of the account (protection orders left out)."""
        answer = await self.client.request(PT.RECONCILE_REQ, {})
        out = []
        for raw in answer.body.get("order", []):
            if int(raw.get("orderType", 0)) == OrderType.STOP_LOSS_TAKE_PROFIT:
                continue
            info = await self.book.info_by_id(int(raw["tradeData"]["symbolId"]))
            if info is None:
                continue
            fills: list[FillReport] = []
            if int(raw.get("executedVolume", 0) or 0) > 0:
                details = await self._details(int(raw["orderId"]))
                if details is not None:
                    currency = await self.book.currency()
                    cid = str(raw.get("clientOrderId") or f"CT-{raw['orderId']}")
                    fills = [f for f in (parse.fill_report(d, info, cid, currency)
                                         for d in details[1]) if f is not None]
            report = parse.order_report(raw, info, fills)
            self.tracker.adopt(report, fills)
            out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """The account's deals at or after ``ts_ns`` (not before the account existed), oldest
        first, each with the client order id of its order."""
        start = max(ts_ns // parse.NS_PER_MS, await self.book.registered_ms())
        end = int(time.time() * 1000) + 60_000
        deals = await self._paged(PT.DEAL_LIST_REQ, "deal", start, end)
        names: dict[int, str] = {}
        if any(self.tracker.of_order_id(int(d["orderId"])) is None for d in deals):
            for raw in await self._paged(PT.ORDER_LIST_REQ, "order", start, end):
                if raw.get("clientOrderId"):
                    names[int(raw["orderId"])] = str(raw["clientOrderId"])
        currency = await self.book.currency()
        infos = await self.book.infos([int(d.get("symbolId", 0)) for d in deals])
        out = []
        for deal in deals:
            order_id = int(deal["orderId"])
            info = infos.get(int(deal.get("symbolId", 0)))
            if info is None:
                continue
            known = self.tracker.of_order_id(order_id)
            cid = known.client_order_id if known is not None else names.get(order_id)
            if cid is None:
                details = await self._details(order_id)
                cid = str((details[0].get("clientOrderId") if details else None)
                          or f"CT-{order_id}")
                names[order_id] = cid
            fill = parse.fill_report(deal, info, cid, currency)
            if fill is None or fill.ts < ts_ns:
                continue
            if known is not None:
                self.tracker.seen(known, fill)
            out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def positions(self) -> list[PositionReport]:
        """Net positions per symbol (a hedging account's positions summed)."""
        found = await self._load_positions()
        infos = await self.book.infos([int(p["tradeData"]["symbolId"]) for p in found])
        return parse.position_reports(found, infos)

    async def account(self) -> AccountReport:
        """Balance, equity (balance plus net unrealised PnL) and used margin."""
        trader = await self.book.trader(refresh=True)
        currency = await self.book.currency()
        balance = parse.money(int(trader.get("balance", 0)), int(trader.get("moneyDigits", 2)))
        pnl = await self.client.request(PT.GET_POSITION_UNREALIZED_PNL_REQ, {})
        digits = int(pnl.body.get("moneyDigits", 2))
        unrealised = sum((parse.money(int(p.get("netUnrealizedPnL", 0)), digits)
                          for p in pnl.body.get("positionUnrealizedPnL", [])), Decimal(0))
        margin = sum((parse.money(int(p.get("usedMargin", 0) or 0),
                                  int(p.get("moneyDigits", 2)))
                      for p in await self._load_positions()), Decimal(0))
        return parse.account_report(trader, currency, balance + unrealised, margin,
                                    time.time_ns())

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The account's symbols as instruments (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the account does not list.
        """
        return await self.book.instruments(symbols)

    # -- cTrader's messages -----------------------------------------------------------------------

    def _on_message(self, message: Incoming) -> None:
        if message.payload_type == PT.EXECUTION_EVENT:
            self._on_execution(message.body)
        elif message.payload_type == PT.ORDER_ERROR_EVENT and not message.client_msg_id:
            known = self.tracker.of_order_id(int(message.body.get("orderId", 0) or 0))
            reason = describe(str(message.body.get("errorCode", "")),
                              str(message.body.get("description", "")))
            if known is not None and known.cancel_requested:
                self.tracker.cancel_refused(known, reason)
            else:
                logger.warning("cTrader order error", extra={"fields": {
                    "order_id": message.body.get("orderId"), "error": reason}})

    def _on_execution(self, event: dict[str, Any]) -> None:
        position = event.get("position")
        if position is not None:
            self._track_position(position)
        order = event.get("order")
        if order is None:
            return
        known = self._known_of(order)
        if known is None:
            return
        info = self.book.known(int(order["tradeData"]["symbolId"]))
        if info is None:
            self._spawn(self._later(event))  # a symbol not loaded yet: load it first
            return
        self._apply(known, int(event.get("executionType", 0)), order, event.get("deal"),
                    info, str(event.get("errorCode", "")))

    async def _later(self, event: dict[str, Any]) -> None:
        order = event["order"]
        info = await self.book.info_by_id(int(order["tradeData"]["symbolId"]))
        known = self._known_of(order)
        if info is not None and known is not None:
            self._apply(known, int(event.get("executionType", 0)), order, event.get("deal"),
                        info, str(event.get("errorCode", "")))

    def _apply(self, known: Known, kind: int, order: dict[str, Any],
               deal: dict[str, Any] | None, info: parse.SymbolInfo, error: str) -> None:
        ts = parse.ms_to_ns(order.get("utcLastUpdateTimestamp"))
        if kind == ExecutionType.ORDER_ACCEPTED:
            self.tracker.accept(known, ts)
        elif kind in (ExecutionType.ORDER_FILLED, ExecutionType.ORDER_PARTIAL_FILL):
            if deal is not None:
                fill = parse.fill_report(deal, info, known.client_order_id,
                                         self._currency())
                if fill is not None:
                    self.tracker.on_fill(known, fill)
        elif kind == ExecutionType.ORDER_REPLACED:
            report = parse.order_report(order, info)
            self.tracker.replaced(known, report.quantity, report.price, report.trigger_price,
                                  ts)
        elif kind == ExecutionType.ORDER_CANCELLED:
            if known.immediate and not known.cancel_requested:
                self.tracker.expired(known, ts)  # IOC/FOK that could not fill as asked
            else:
                self.tracker.cancelled(known, "" if known.cancel_requested
                                       else "cancelled by cTrader", ts)
        elif kind == ExecutionType.ORDER_EXPIRED:
            self.tracker.expired(known, ts)
        elif kind == ExecutionType.ORDER_REJECTED:
            self.tracker.rejected(known, describe(error or "ORDER_REJECTED"), ts)
        elif kind == ExecutionType.ORDER_CANCEL_REJECTED:
            self.tracker.cancel_refused(known, describe(error or "UNABLE_TO_CANCEL_ORDER"))

    def _known_of(self, order: dict[str, Any]) -> Known | None:
        order_id = int(order.get("orderId", 0))
        cid = str(order.get("clientOrderId", ""))
        known = self.tracker.get(cid) if cid else None
        if known is None:
            known = self.tracker.of_order_id(order_id)
        if known is not None:
            self.tracker.link(known, order_id)
        return known

    def _track_position(self, position: dict[str, Any]) -> None:
        position_id = int(position.get("positionId", 0))
        if int(position.get("positionStatus", 0)) == PositionStatus.POSITION_STATUS_OPEN:
            self.open_positions[position_id] = position
        else:
            self.open_positions.pop(position_id, None)

    def _currency(self) -> str:
        return self.book.cached_currency()

    # -- helpers ----------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _known(self, order: Order) -> Known:
        """The tracked record of a working order, with its cTrader order id (looked up when
        this adapter did not send it).

        Raises
        ------
        CtraderFatalError
            cTrader has no such order.
        """
        known = self.tracker.get(order.client_order_id)
        if known is None or not known.order_id:
            if await self.order_status(order.client_order_id) is None:
                raise CtraderFatalError(f"cTrader has no order {order.client_order_id}",
                                        "ORDER_NOT_FOUND")
            known = self.tracker.get(order.client_order_id)
        assert known is not None
        known.strategy_id = known.strategy_id or order.strategy_id
        known.position_id = known.position_id or (order.position_id or "")
        return known

    def _adopt(self, raw: dict[str, Any], info: parse.SymbolInfo,
               fills: list[FillReport]) -> Known:
        report = parse.order_report(raw, info, fills)
        return self.tracker.adopt(report, fills)

    async def _details(self, order_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        try:
            answer = await self.client.request(PT.ORDER_DETAILS_REQ, {"orderId": order_id})
        except CtraderFatalError as exc:
            if exc.code in NOT_WORKING:
                return None
            raise
        order = answer.body.get("order")
        return (order, list(answer.body.get("deal", []))) if order else None

    async def _search(self, client_order_id: str
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """An order by client order id: the pending ones first, then the recent ones."""
        answer = await self.client.request(PT.RECONCILE_REQ, {})
        found = [o for o in answer.body.get("order", [])
                 if o.get("clientOrderId") == client_order_id]
        if not found:
            end = int(time.time() * 1000) + 60_000
            start = end - int(self.config.lookup_days * 86_400_000)
            found = [o for o in await self._paged(PT.ORDER_LIST_REQ, "order", start, end)
                     if o.get("clientOrderId") == client_order_id]
        if not found:
            return None
        latest = max(found, key=lambda o: int(o.get("utcLastUpdateTimestamp", 0) or 0))
        return await self._details(int(latest["orderId"])) or (latest, [])

    async def _paged(self, kind: int, field: str, start_ms: int, end_ms: int
                     ) -> list[dict[str, Any]]:
        """Every record of a deal or order list over ``[start, end]``: a week per request,
        and a window cTrader answers with ``hasMore`` asked again in halves (records are
        told apart by id, so whatever order cTrader pages them in, none is missed)."""
        out: dict[int, dict[str, Any]] = {}
        key = "dealId" if field == "deal" else "orderId"
        todo: list[tuple[int, int]] = []
        lo = start_ms
        while lo <= end_ms:
            todo.append((lo, min(end_ms, lo + _WEEK_MS)))
            lo += _WEEK_MS + 1
        for _ in range(_MAX_PAGES):
            if not todo:
                break
            lo, hi = todo.pop(0)
            body: dict[str, Any] = {"fromTimestamp": lo, "toTimestamp": hi}
            if kind == PT.DEAL_LIST_REQ:
                body["maxRows"] = _PAGE_ROWS
            answer = await self.client.request(kind, body)
            rows = list(answer.body.get(field, []))
            for row in rows:
                out[int(row[key])] = row
            if answer.body.get("hasMore") and rows:
                if hi > lo:
                    middle = (lo + hi) // 2
                    todo[:0] = [(lo, middle), (middle + 1, hi)]
                else:
                    logger.warning("more records in one millisecond than one page holds",
                                   extra={"fields": {"at_ms": lo, "rows": len(rows)}})
        return list(out.values())

    def _reason(self, order: dict[str, Any]) -> str:
        state = parse.status(order)
        return "" if state.value in ("ACCEPTED", "PARTIALLY_FILLED", "FILLED") else \
            f"cTrader order status {state.value}"

    async def _load_positions(self) -> list[dict[str, Any]]:
        answer = await self.client.request(PT.RECONCILE_REQ, {})
        found = [p for p in answer.body.get("position", [])
                 if int(p.get("positionStatus", PositionStatus.POSITION_STATUS_OPEN))
                 == PositionStatus.POSITION_STATUS_OPEN]
        self.open_positions = {int(p["positionId"]): p for p in found}
        return found

    async def _refresh(self, known: Known) -> None:
        """Bring one tracked order up to cTrader's state (missed fills first)."""
        details = await self._details(known.order_id) if known.order_id else \
            await self._search(known.client_order_id)
        if details is None:
            return
        order, deals = details
        info = await self.book.info_by_id(int(order["tradeData"]["symbolId"]))
        if info is None:
            return
        self.tracker.link(known, int(order["orderId"]))
        currency = await self.book.currency()
        for deal in sorted(deals, key=lambda d: int(d.get("executionTimestamp", 0))):
            fill = parse.fill_report(deal, info, known.client_order_id, currency)
            if fill is not None:
                self.tracker.on_fill(known, fill)
        report = parse.order_report(order, info)
        state = report.status.value
        if state in ("ACCEPTED", "PARTIALLY_FILLED"):
            self.tracker.accept(known, report.ts_accepted)
            self.tracker.replaced(known, report.quantity, report.price, report.trigger_price)
        elif state == "CANCELED":
            self._apply(known, ExecutionType.ORDER_CANCELLED, order, None, info, "")
        elif state == "EXPIRED":
            self.tracker.expired(known, report.ts_last)
        elif state == "REJECTED":
            self.tracker.rejected(known, report.reason)

    async def _on_ready(self, reconnected: bool) -> None:
        """After a reconnection: positions, then every working order from cTrader."""
        if not self._connected:
            return
        await self._load_positions()
        working = [k for k in self.tracker.working() if k.sent]
        if not working:
            return
        self.resyncs += 1
        for known in working:
            await self._refresh(known)
        logger.info("orders re-synchronised with cTrader", extra={"fields": {
            "working": len(self.tracker.working()), "resyncs": self.resyncs}})


__all__ = ["CtraderExecutionClient"]
