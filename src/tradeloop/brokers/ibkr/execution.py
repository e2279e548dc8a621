"""The execution client over IB (:class:`IbkrExecutionClient`).

Each order carries our client order id in ``orderRef`` and gets the next IB order id. A submit
places it and waits up to ``ack_timeout_s`` for IB's first answer (an order status, an
execution, or an error): an error raises its class from :mod:`.errors`; no answer raises
``OutcomeUnknownError``, and :meth:`IbkrExecutionClient.order_status` then finds the order by
its ``orderRef`` among IB's open orders, completed orders and executions. An order that was
placed is never placed again: a submit for a client order id that has an IB order id looks it
up instead.

Order events follow IB's live messages (statuses, executions). An execution is reported once
its commission report has arrived (IB sends it right after), or after ``commission_wait_s``
without one. After every reconnection (or restored IB link) the orders still working are
brought up to date from IB's open and completed orders and executions, so what happened while
the link was down reaches the node as events.

Brackets and one-cancels-other groups are IB's own: a bracket parent waits untransmitted until
its last child arrives with its ``parentId``; OCO legs share an OCA group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeloop.brokers.base import cancel_tasks
from tradeloop.brokers.ibkr import orders, parse
from tradeloop.brokers.ibkr.client import IbkrClient
from tradeloop.brokers.ibkr.contracts import ContractBook
from tradeloop.brokers.ibkr.errors import (
    CANCEL_REFUSED,
    ErrorClass,
    IbkrError,
    IbkrFatalError,
    IbkrOutcomeUnknownError,
    IbkrRetryableError,
    classify,
    describe,
    error_for,
)
from tradeloop.brokers.ibkr.lookup import Lookup
from tradeloop.brokers.ibkr.tracking import Known, Tracker
from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)
#: How long an ``Inactive`` first answer waits for the error that explains it.
_INACTIVE_GRACE_S = 0.5


@dataclass
class _Answer:
    error: IbkrError | None = None


@dataclass
class _Waiter:
    kind: str  # "submit" or "modify"
    future: asyncio.Future[_Answer]
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Bracket:
    """A parent placed untransmitted, and its children as they are placed."""

    order_id: int
    children: set[str]
    placed: set[str] = field(default_factory=set)
    transmitted: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class IbkrExecutionClient(Lookup):
    """A node's orders on one IB account.

    Parameters
    ----------
    client : IbkrClient
        Shared with the market data client.
    book : ContractBook
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: IbkrClient, book: ContractBook,
                 capabilities: VenueCapabilities, venue: str = "IBKR") -> None:
        super().__init__(client, book, Tracker(time.time_ns))
        self.capabilities = capabilities
        self.venue = venue
        #: Re-synchronisations after a reconnection or a restored link.
        self.resyncs = 0
        self._waiting: dict[int, _Waiter] = {}
        self._brackets: dict[str, _Bracket] = {}
        self._bracket_ready: dict[str, asyncio.Event] = {}
        self._fills: asyncio.Queue[tuple[float, Known, Any]] = asyncio.Queue()
        self._commission = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connected = False
        self._resyncing = False
        self._deferred: dict[int, Any] = {}
        client.on_connected(self._on_connected)
        client.on_lost(self._on_lost)
        ib = client.ib
        ib.openOrderEvent += self._on_open_order
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error

    # -- connection ---------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    async def connect(self) -> None:
        """Connect (shared with market data) and start reporting fills."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True
        self._fills = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._deliver_fills(),
                                                            name="ibkr-fills")

    async def disconnect(self) -> None:
        """Stop reporting and release the connection."""
        if not self._connected:
            return
        self._connected = False
        self._on_lost()
        await cancel_tasks(self._pump, *self._tasks)
        self._pump = None
        await self.client.close()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- commands -----------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Place a new order (our id in ``orderRef``) and wait for IB's first answer.

        Raises
        ------
        IbkrFatalError
            IB refused it (the router rejects the order), or the symbol is not configured.
        IbkrRetryableError
            Not connected, or IB refused it for now (message rate): nothing was booked.
        IbkrOutcomeUnknownError
            No answer in time, or the connection dropped after sending.
        """
        await self.client.ready()
        if self.config.readonly:
            raise IbkrFatalError("the IB connection is read-only (readonly = true)")
        known = self.tracker.add(Known.of(order))
        if known.order_id:  # placed before: find it, never place it twice
            if await self.order_status(order.client_order_id) is not None:
                return
            self.tracker.refuse(known)
        try:
            contract = await self.book.contract(order.symbol)
        except ConfigError as exc:
            raise IbkrFatalError(str(exc)) from None
        ib_order = orders.build_order(order, outside_rth_default=self.config.outside_rth,
                                      account=self.client.account)
        bracket = await self._link_bracket(order, ib_order)
        try:
            order_id = int(self.client.ib.client.getReqId())
        except ConnectionError as exc:
            raise IbkrRetryableError(f"not connected to IB: {exc}") from None
        ib_order.orderId = order_id
        self.tracker.link(known, order_id)
        waiter = self._expect(order_id, "submit") if ib_order.transmit else None
        try:
            self.client.ib.placeOrder(contract, ib_order)
        except (ConnectionError, OSError) as exc:
            self._waiting.pop(order_id, None)
            self.tracker.refuse(known)
            raise IbkrRetryableError(f"placing {order.client_order_id}: {exc}") from None
        if bracket is not None:
            bracket.placed.add(order.client_order_id)
            bracket.transmitted = bracket.transmitted or ib_order.transmit
        if orders.is_bracket_parent(order):
            self._hold_bracket(order, order_id)
        if waiter is None:
            return
        answer = await self._answered(order_id, waiter, order.client_order_id)
        if answer.error is None:
            return
        if isinstance(answer.error, IbkrRetryableError):
            self.tracker.refuse(known)
        elif isinstance(answer.error, IbkrFatalError):
            known.closed = True
        raise answer.error

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Place the working order again under its IB order id with the changes.

        Raises
        ------
        IbkrFatalError
            IB refused the change, or the order is not working any more.
        IbkrOutcomeUnknownError
            No answer in time.
        """
        await self.client.ready()
        known = await self._known(order)
        trade = await self._trade_of(known)
        if trade is None or trade.isDone():
            raise IbkrFatalError(f"{order.client_order_id} is not working at IB")
        new = orders.modified(trade.order, order, quantity, price, trigger_price)
        waiter = self._expect(known.order_id, "modify")
        try:
            self.client.ib.placeOrder(trade.contract, new)
        except (ConnectionError, OSError) as exc:
            self._waiting.pop(known.order_id, None)
            raise IbkrRetryableError(f"modifying {order.client_order_id}: {exc}") from None
        answer = await self._answered(known.order_id, waiter, order.client_order_id)
        if answer.error is not None:
            if isinstance(answer.error, IbkrOutcomeUnknownError):
                raise answer.error
            raise IbkrFatalError(f"modify refused: {answer.error}",
                                 getattr(answer.error, "code", 0)) from None
        self.tracker.updated(known, quantity, price, trigger_price)

    async def cancel_order(self, order: Order) -> None:
        """Ask IB to cancel a working order (the cancellation arrives as an event).

        Raises
        ------
        IbkrFatalError
            IB has no such order.
        """
        await self.client.ready()
        known = await self._known(order)
        trade = await self._trade_of(known)
        if trade is not None and trade.isDone():
            self._apply(known, trade)  # it ended meanwhile: say how
            if trade.orderStatus.status == "Filled":
                raise IbkrFatalError(f"{order.client_order_id} has filled at IB: nothing to "
                                     "cancel")
            return
        known.cancel_requested = True
        target = trade.order if trade is not None else self._bare_order(known)
        try:
            self.client.ib.cancelOrder(target)
        except (ConnectionError, OSError) as exc:
            raise IbkrRetryableError(f"cancelling {order.client_order_id}: {exc}") from None

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every working order: all of the account's through IB's global cancel, or
        this client's of one symbol one by one."""
        await self.client.ready()
        if symbol is None:
            for known in self.tracker.working():
                known.cancel_requested = True
            self.client.global_cancel()
            return
        for trade in await self._open_trades():
            if self.book.symbol_of(trade.contract) != symbol or trade.isDone():
                continue
            if trade.order.clientId != self.config.client_id \
                    and trade.order.orderRef not in self.tracker.orders:
                continue
            known = self._adopt(trade)
            known.cancel_requested = True
            self.client.ib.cancelOrder(trade.order)

    # -- state ----------------------------------------------------------------------------------

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The configured contracts as instruments (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol not configured or unknown to IB.
        """
        return await self.book.instruments(list(symbols) if symbols is not None else None)

    async def positions(self) -> list[PositionReport]:
        """Net positions per symbol (a future's months under its root)."""
        held = await self.client.request("positions", self.client.ib.reqPositionsAsync,
                                         lock="positions")
        by_symbol: dict[str, list[tuple[Any, Decimal]]] = {}
        for pos in held:
            if self.client.account and pos.account != self.client.account:
                continue
            symbol = self.book.symbol_of(pos.contract)
            by_symbol.setdefault(symbol, []).append((pos, self.book.multiplier(pos.contract)))
        out = []
        for symbol, rows in by_symbol.items():
            report = parse.position_report(symbol, rows, self.book.tick(symbol))
            if report is not None:
                out.append(report)
        return out

    async def account(self) -> AccountReport:
        """Cash, net liquidation value and maintenance margin in the base currency."""
        await self.client.ready()
        account = self.client.account
        values = self.client.ib.accountValues(account)
        report = parse.account_report(values, account, time.time_ns())
        if not report.currency:
            summary = await self.client.request(
                "account summary", lambda: self.client.ib.accountSummaryAsync(account))
            report = parse.account_report(summary, account, time.time_ns())
        return report

    async def account_values(self) -> dict[str, Decimal]:
        """Every value IB reports for the account in its base currency (``NetLiquidation``,
        ``TotalCashValue``, ``AvailableFunds``, ``BuyingPower``, ``MaintMarginReq``...)."""
        await self.client.ready()
        return parse.account_values(self.client.ib.accountValues(self.client.account),
                                    self.client.account)[1]

    # -- brackets -------------------------------------------------------------------------------

    async def _link_bracket(self, order: Order, ib_order: Any) -> _Bracket | None:
        """Hold a bracket parent untransmitted; give a child its parent's IB order id (the
        last child transmits the group)."""
        if orders.is_bracket_parent(order):
            ib_order.transmit = False
            return None
        if not order.parent_id:
            return None
        parent = self.tracker.orders.get(order.parent_id)
        bracket = self._brackets.get(order.parent_id)
        if bracket is None and parent is not None and not parent.order_id:
            ready = self._bracket_ready.setdefault(order.parent_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), self.config.ack_timeout_s)
            bracket = self._brackets.get(order.parent_id)
        if bracket is None:
            parent_id = parent.order_id if parent is not None else 0
            if parent_id:
                ib_order.parentId = parent_id  # attached to a working parent
            else:
                logger.warning("bracket child without a known parent: sent on its own",
                               extra={"fields": {"client_order_id": order.client_order_id,
                                                 "parent": order.parent_id}})
            return None
        ib_order.parentId = bracket.order_id
        remaining = bracket.children - bracket.placed - {order.client_order_id}
        ib_order.transmit = bracket.transmitted or not remaining
        return bracket

    def _hold_bracket(self, order: Order, order_id: int) -> None:
        bracket = _Bracket(order_id, set(order.linked_ids))
        self._brackets[order.client_order_id] = bracket
        self._bracket_ready.setdefault(order.client_order_id, asyncio.Event()).set()
        self._spawn(self._bracket_watchdog(order.client_order_id, bracket))

    async def _bracket_watchdog(self, parent_id: str, bracket: _Bracket) -> None:
        """A parent whose children never all came would never be transmitted: after the ack
        timeout, transmit it as it is."""
        await asyncio.sleep(self.config.ack_timeout_s * 2)
        if bracket.transmitted:
            return
        trade = self._trade_in_session(bracket.order_id)
        if trade is None:
            return
        logger.warning("bracket incomplete: transmitting the parent with the children it has",
                       extra={"fields": {"client_order_id": parent_id,
                                         "missing": sorted(bracket.children - bracket.placed)}})
        bracket.transmitted = True
        again = orders.transmitted(trade.order)
        with contextlib.suppress(ConnectionError, OSError):
            self.client.ib.placeOrder(trade.contract, again)

    # -- answers --------------------------------------------------------------------------------

    def _expect(self, order_id: int, kind: str) -> _Waiter:
        waiter = _Waiter(kind, asyncio.get_running_loop().create_future())
        self._waiting[order_id] = waiter
        return waiter

    def _answer(self, order_id: int, answer: _Answer) -> None:
        waiter = self._waiting.get(order_id)
        if waiter is not None and not waiter.future.done():
            if waiter.timer is not None:
                waiter.timer.cancel()
            waiter.future.set_result(answer)

    async def _answered(self, order_id: int, waiter: _Waiter, cid: str) -> _Answer:
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future),
                                          self.config.ack_timeout_s)
        except TimeoutError:
            raise IbkrOutcomeUnknownError(
                f"{cid}: no answer from IB within {self.config.ack_timeout_s:g} s") from None
        finally:
            if self._waiting.get(order_id) is waiter:
                del self._waiting[order_id]
            if waiter.timer is not None:
                waiter.timer.cancel()

    def _on_lost(self) -> None:
        for order_id, waiter in list(self._waiting.items()):
            if not waiter.future.done():
                waiter.future.set_result(_Answer(IbkrOutcomeUnknownError(
                    f"the connection to IB dropped while order {order_id} was on its way")))

    # -- IB's messages ----------------------------------------------------------------------------

    def _on_open_order(self, trade: Any) -> None:
        if self.client.syncing:
            return
        waiter = self._waiting.get(trade.order.orderId)
        if waiter is not None and waiter.kind == "modify":
            self._answer(trade.order.orderId, _Answer())
        known = self._known_of(trade)
        if known is not None and trade.order.permId:
            known.perm_id = trade.order.permId

    def _on_status(self, trade: Any) -> None:
        if self.client.syncing:
            return
        order_id = trade.order.orderId
        state = trade.orderStatus.status
        if state in parse.UNANSWERED or state == "PendingCancel":
            return  # not an answer yet (ib_async echoes our own cancel as PendingCancel)
        code, message = parse.last_error(trade)
        waiter = self._waiting.get(order_id)
        if waiter is not None and not waiter.future.done():
            if code and classify(code) is not ErrorClass.CANCELLED:
                self._answer(order_id, _Answer(error_for(code, message)))
                return
            if state == "Inactive":
                if waiter.timer is None:
                    waiter.timer = asyncio.get_running_loop().call_later(
                        _INACTIVE_GRACE_S, self._answer, order_id,
                        _Answer(IbkrFatalError("IB made the order inactive (rejected)")))
                return
            self._answer(order_id, _Answer())
            if waiter.kind == "modify" and state not in parse.CANCELLED:
                return
        elif waiter is not None and waiter.future.result().error is not None:
            return  # the request failed: the caller reports it
        if self._resyncing:  # applied once the re-synchronisation booked the executions
            self._deferred[order_id] = trade
            return
        known = self._known_of(trade)
        if known is not None:
            self._apply(known, trade)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if req_id <= 0 or classify(code) is ErrorClass.INFO:
            return
        waiter = self._waiting.get(req_id)
        if waiter is not None and not waiter.future.done():
            self._answer(req_id, _Answer(error_for(code, message)))
            return
        known = self.tracker.of_order_id(req_id)
        if known is not None and code in CANCEL_REFUSED:
            self.tracker.cancel_refused(known, describe(code, message))

    def _on_execution(self, trade: Any, fill: Any) -> None:
        if self.client.syncing:
            return
        order_id = fill.execution.orderId
        if order_id in self._waiting:
            self._answer(order_id, _Answer())  # an execution: IB has the order
        known = self._known_of(trade)
        if known is None or fill.execution.execId in known.exec_ids:
            return
        self._fills.put_nowait((time.monotonic() + self.config.commission_wait_s, known, fill))

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._commission.set()

    async def _deliver_fills(self) -> None:
        """Report executions in arrival order, each once its commission is known."""
        while True:
            deadline, known, fill = await self._fills.get()
            while not fill.commissionReport.execId and time.monotonic() < deadline:
                self._commission.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._commission.wait(),
                                           min(0.05, max(0.0, deadline - time.monotonic())))
            if not fill.commissionReport.execId:
                logger.info("execution reported without its commission report", extra={
                    "fields": {"client_order_id": known.client_order_id,
                               "exec_id": fill.execution.execId}})
            try:
                self.tracker.on_fill(known, self._fill(fill, known.client_order_id))
            except Exception:
                logger.exception("execution could not be reported", extra={"fields": {
                    "client_order_id": known.client_order_id}})

    def _apply(self, known: Known, trade: Any) -> None:
        """Bring a tracked order to the state of IB's trade (after its executions)."""
        state = trade.orderStatus.status
        code, message = parse.last_error(trade)
        if trade.order.permId:
            known.perm_id = trade.order.permId
        if state in parse.WORKING or state == "Filled":
            self.tracker.accept(known)
            return
        reason = describe(code, message) if code else ""
        if code in CANCEL_REFUSED:
            self.tracker.cancel_refused(known, reason)
            self._spawn(self._refresh(known))
            return
        if state in parse.CANCELLED:
            if code and classify(code) is ErrorClass.FATAL:
                self.tracker.rejected(known, reason)
            else:
                self.tracker.cancelled(known, reason)
        elif state == "Inactive":
            if known.accepted and not code:
                self.tracker.cancelled(known, "IB made the order inactive")
            else:
                self.tracker.rejected(known, reason or "IB made the order inactive")

    async def _refresh(self, known: Known) -> None:
        """Ask IB for an order's state after a refused cancel (it may have filled)."""
        with contextlib.suppress(Exception):
            await asyncio.sleep(0.2)
            trade = await self._trade_of(known, ask=True)
            for fill in await self._executions_of(known):
                self.tracker.on_fill(known, fill)
            if trade is not None and trade.isDone():
                self._apply(known, trade)

    async def _on_connected(self, reconnected: bool, data_lost: bool) -> None:
        """After a reconnection: executions and states of the working orders, from IB
        (statuses arriving meanwhile are applied after the executions)."""
        if not reconnected or not self.tracker.working():
            return
        self.resyncs += 1
        self._resyncing = True
        try:
            await self._resync()
        finally:
            self._resyncing = False
            deferred, self._deferred = self._deferred, {}
            for trade in deferred.values():
                found = self._known_of(trade)
                if found is not None:
                    self._apply(found, trade)
        logger.info("orders re-synchronised with IB", extra={"fields": {
            "working": len(self.tracker.working()), "resyncs": self.resyncs}})

    async def _resync(self) -> None:
        trades = [*await self._completed_trades(), *await self._open_trades()]
        executions = await self._executions()
        for execution in executions:
            await self._tick(self.book.symbol_of(execution.contract))
        fills = sorted((self._fill(e) for e in executions), key=lambda f: (f.ts, f.trade_id))
        by_cid = {parse.client_order_id(t.order.orderRef, t.order.permId): t for t in trades}
        for known in self.tracker.working():
            for fill in fills:
                if fill.client_order_id == known.client_order_id:
                    self.tracker.on_fill(known, fill)
            trade = by_cid.get(known.client_order_id)
            if trade is not None:
                self._apply(known, trade)

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """IB's view of one order, found by its ``orderRef`` (None when IB never saw it)."""
        return await self.lookup(client_order_id)


__all__ = ["IbkrExecutionClient"]
