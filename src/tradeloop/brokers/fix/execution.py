"""The FIX execution client (:class:`FixExecutionClient`): orders over a FIX session.

It implements :class:`~tradeloop.execution.ports.LiveExecutionClient`. Commands are FIX
requests answered by the venue's reports: a submit (NewOrderSingle) returns once the first
report of the order is in (its acknowledgement, a fill or a rejection) and its outcome is
unknown when none comes in time; a cancel (OrderCancelRequest) and a modify
(OrderCancelReplaceRequest, with a new ClOrdID in the order's chain) return once the venue
answered. Every report goes through the adapter's :class:`~tradeloop.brokers.fix.orders.
FixOrderBook` first, which drops what it has seen (by ExecID) and yields the events handed to
the handler given to :meth:`FixExecutionClient.bind`.

Queries never answer from a stale view: an order lookup asks the venue (OrderStatusRequest)
when it answers them, and otherwise waits for a barrier (the session logged on and caught up
with what the venue sent, resent messages of a gap included) before it reads the book, so an
order the venue took is never reported as unknown (the live router would send it again).

After a reconnection the client reconciles the book's open orders by OrderStatusRequest (when
the venue answers them): what changed while the line was down (cancelled, expired, forgotten by
a restarted venue) becomes events.

A venue without MARKET orders (``market_orders = "limit"``) gets a marketable limit at the
last price known (from :meth:`FixExecutionClient.note_price`, the venue's quotes or the
session's fills) moved by ``market_protection_pct``, with IOC when the venue takes it (else
DAY, else GTC).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import simplefix

from tradeloop.brokers.fix import parse
from tradeloop.brokers.fix.account import FixAccountQueries
from tradeloop.brokers.fix.client import FixClient
from tradeloop.brokers.fix.config import FixAdapterConfig
from tradeloop.brokers.fix.errors import (
    CXL_REJ_REASONS,
    DUPLICATE_ORDER,
    FixBusinessRejectError,
    FixCancelRejectedError,
    FixOrderRejectedError,
    FixUnsupportedError,
    describe,
)
from tradeloop.brokers.fix.orders import BookOrder, FixOrderBook
from tradeloop.brokers.fix.store import store_path
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import TERMINAL, Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

_SUBMIT, _CANCEL, _REPLACE = "submit", "cancel", "replace"
#: How far back unanswered submissions are looked up after a reconnection.
_INTENT_LOOKBACK_NS = 86_400 * 1_000_000_000
_MARKET_TIF = (TimeInForce.IOC, TimeInForce.DAY, TimeInForce.GTC)
_RECONCILE_ATTEMPTS = 4


def venue_capabilities(config: FixAdapterConfig) -> VenueCapabilities:
    """What the adapter declares for ``config``'s venue (a market order it sends as a limit
    counts as supported)."""
    caps = config.capabilities
    types = set(caps.order_types)
    if config.market_as_limit:
        types.add(OrderType.MARKET)
    return VenueCapabilities(
        order_types=frozenset(types), time_in_force=caps.time_in_force, oco=False, oto=False,
        trailing_stop=False, modify=caps.modify, hedging=False, fractional=caps.fractional,
        streaming=True, quotes=caps.quotes, trades=False, bars=False, history=False)


@dataclass
class _Waiter:
    kind: str
    answer: asyncio.Future[object] = field(default_factory=asyncio.Future)


class FixExecutionClient:
    """A node's orders at a FIX venue.

    Parameters
    ----------
    config : FixAdapterConfig
    client : FixClient
        The order session (shared with the market data client when quotes come over it).
    book_path : Path
        The :class:`FixOrderBook` file, opened on :meth:`connect`: the session store's own
        file, whose commits make the book's durable.
    tick_of : callable, optional
        An instrument's tick size, for marketable limits (default: 0.01).
    now_ns : callable, optional

    Attributes
    ----------
    reconciliations : int
        Reconciliations by status request after a reconnection.
    status_requests : int
        OrderStatusRequests sent.
    """

    def __init__(self, config: FixAdapterConfig, client: FixClient, book_path: Path, *,
                 tick_of: Callable[[str], Decimal | None] | None = None,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.venue = config.venue
        self.capabilities = venue_capabilities(config)
        self.client = client
        self.book_path = book_path
        self._tick_of = tick_of or (lambda symbol: None)
        self._now_ns = now_ns
        self._handler: EventHandler | None = None
        self._book: FixOrderBook | None = None
        self._waiters: dict[str, list[_Waiter]] = {}
        self._status_waiters: dict[str, asyncio.Future[object]] = {}
        self._account = FixAccountQueries(client, config.account, now_ns=now_ns)
        self._last: dict[str, Decimal] = {}
        self._quotes: dict[str, tuple[Decimal, Decimal]] = {}
        self._connected = False
        self.reconciliations = 0
        self.status_requests = 0
        for msg_type, handler in ((parse.EXECUTION_REPORT, self._on_execution_report),
                                  (parse.CANCEL_REJECT, self._on_cancel_reject)):
            client.route(msg_type, handler)
        client.on_logon(self._after_logon)

    @property
    def book(self) -> FixOrderBook:
        """The book (open while connected)."""
        if self._book is None:
            raise FatalVenueError("the FIX execution client is not connected")
        return self._book

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self._handler = handler

    async def connect(self) -> None:
        """Log on, catch up with what the venue sent meanwhile, and reconcile the open orders.

        Raises
        ------
        FixConnectError
            Unreachable: retryable.
        FixLogonError, FixSequenceError
            Refused: fatal.
        """
        if self._connected:
            return
        self._book = FixOrderBook(self.book_path, synced_by_session=self.book_path == store_path(
            self.client.config.store_dir, self.client.config.store_name))
        try:
            await self.client.open()
        except BaseException:
            self._book.close()
            self._book = None
            raise
        self._connected = True
        await self.client.barrier()
        await self._reconcile()

    async def disconnect(self) -> None:
        """Log out (when no other client uses the session) and close the book."""
        if not self._connected:
            return
        self._connected = False
        await self.client.close()
        if self._book is not None:
            self._book.close()
            self._book = None

    # -- prices for marketable limits -------------------------------------------------------

    def note_price(self, symbol: str, price: Decimal | float) -> None:
        """Remember the last price of ``symbol`` (marketable limits are set from it)."""
        self._last[symbol] = Decimal(str(price))

    def on_quote(self, quote: QuoteTick) -> None:
        """Remember a quote (buys then start from the ask, sells from the bid)."""
        self._quotes[quote.symbol] = (Decimal(str(quote.bid)), Decimal(str(quote.ask)))

    def on_trade(self, trade: TradeTick) -> None:
        """Remember a trade's price."""
        self.note_price(trade.symbol, trade.price)

    def on_bar(self, bar: Bar) -> None:
        """Remember a bar's close."""
        self.note_price(bar.symbol, bar.close)

    # -- commands ---------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send ``order`` (NewOrderSingle) and wait for its first report.

        An order the venue already reported is not sent again.

        Raises
        ------
        FixUnsupportedError
            An order type or time in force the venue does not take, or a market order with
            no price to make it a marketable limit: nothing sent.
        FixOrderRejectedError
            The venue rejected it (the OrderRejected event was delivered).
        FixNotLoggedOnError, FixBusyError
            Not sent, or not processed: retryable.
        FixSendError, FixNoAnswerError
            Outcome unknown: look the order up.
        """
        book = self.book
        booked = book.order(order.client_order_id)
        if booked is not None and booked.known:
            logger.info("the venue already has this order; not sent again", extra={"fields": {
                "client_order_id": order.client_order_id, "status": booked.status.value}})
            return
        wire_order = self._wire_order(order)
        booked = book.record_intent(order, wire_order)
        message = parse.new_order_single(wire_order, self._now_ns(), self.config.account)
        answer = await self._order_request(booked, _SUBMIT, message, "NewOrderSingle")
        if not booked.known and isinstance(answer, parse.ExecReport) \
                and answer.rej_reason == DUPLICATE_ORDER:
            raise OutcomeUnknownError(f"the venue already has an order with ClOrdID "
                                      f"{order.client_order_id}: look it up")
        if booked.status is OrderStatus.REJECTED:
            raise FixOrderRejectedError(order.client_order_id, None, booked.reason)

    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel ``order`` (OrderCancelRequest) and wait for its answer.

        Raises
        ------
        FixCancelRejectedError
            Refused (too late, unknown): the OrderCancelRejected event was delivered.
        """
        booked = self._booked(order.client_order_id)
        if booked.status in TERMINAL:
            return
        cl_ord_id = self.book.next_cl_ord_id(booked, "C")
        message = parse.cancel_request(cl_ord_id, booked.cl_ord_id, booked.symbol, booked.side,
                                       booked.quantity, self._now_ns(), self.config.account,
                                       booked.venue_order_id or None)
        answer = await self._order_request(booked, _CANCEL, message, "OrderCancelRequest")
        if isinstance(answer, parse.CancelReject):
            raise FixCancelRejectedError(booked.root, "cancel", answer.reason_code, answer.text)

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Ask the venue to change ``order`` (OrderCancelReplaceRequest).

        Raises
        ------
        FixUnsupportedError
            The venue takes no replace requests.
        FixCancelRejectedError
            Refused: the OrderModifyRejected event was delivered.
        """
        if not self.capabilities.modify:
            raise FixUnsupportedError(f"{self.venue} takes no OrderCancelReplaceRequest")
        booked = self._booked(order.client_order_id)
        if booked.order_type is OrderType.MARKET:
            raise FixUnsupportedError("a market order cannot be modified")
        changed = parse.WireOrder(
            self.book.next_cl_ord_id(booked, "R"), booked.symbol, booked.side,
            booked.order_type, quantity or booked.quantity, price or booked.price,
            trigger_price or booked.trigger_price, booked.time_in_force, booked.expire_ns)
        message = parse.replace_request(changed, booked.cl_ord_id, self._now_ns(),
                                        self.config.account, booked.venue_order_id or None)
        answer = await self._order_request(booked, _REPLACE, message,
                                           "OrderCancelReplaceRequest")
        if isinstance(answer, parse.CancelReject):
            raise FixCancelRejectedError(booked.root, "modify", answer.reason_code, answer.text)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order of the book (of ``symbol`` when given); orders that closed
        meanwhile are skipped."""
        await self.client.barrier()
        targets = [b for b in self.book.open_orders()
                   if not b.external and (symbol is None or b.symbol == symbol)]
        results = await asyncio.gather(*(self._cancel_booked(b) for b in targets),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and \
                    not isinstance(result, FixCancelRejectedError):
                raise result

    async def _cancel_booked(self, booked: BookOrder) -> None:
        order = Order(client_order_id=booked.root, strategy_id=booked.strategy_id,
                      symbol=booked.symbol, side=booked.side, order_type=OrderType.MARKET,
                      quantity=booked.quantity, ts_init=booked.ts_last)
        await self.cancel_order(order)

    # -- queries ----------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The venue's view of one order, or None when it never saw it.

        Asked of the venue when it answers status requests; otherwise read from the book
        after a barrier (never before the session is logged on and caught up).
        """
        book = self.book
        booked = book.order(client_order_id)
        if self.config.capabilities.status_requests:
            try:
                answer = await self._ask_status(booked.cl_ord_id if booked else client_order_id,
                                                booked)
            except FixBusinessRejectError as exc:
                logger.warning("the venue answers no OrderStatusRequest; reading the book "
                               "(set capabilities.status_requests = false)",
                               extra={"fields": {"error": str(exc)}})
            else:
                if booked is not None:
                    book.apply_status(booked, answer)  # the caller applies the events
                if answer is None:
                    return None
                return _status_report(answer, booked)
        await self.client.barrier()
        booked = book.order(client_order_id)
        return booked.report() if booked is not None and booked.known else None

    async def open_orders(self) -> list[OrderStatusReport]:
        """The orders the venue has working, from the book once caught up."""
        await self.client.barrier()
        return [b.report() for b in self.book.open_orders()]

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """The session's fills at or after ``ts_ns`` (venue time), oldest first."""
        await self.client.barrier()
        return self.book.fills_since(ts_ns)

    async def positions(self) -> list[PositionReport]:
        """Net positions: the venue's (RequestForPositions) when it answers, else the
        session's fills summed."""
        if self.config.capabilities.positions_requests:
            return await self._account.positions()
        await self.client.barrier()
        return self.book.positions()

    async def account(self) -> AccountReport:
        """Balances: the venue's CollateralReport when it answers inquiries, else the
        configured balance."""
        config = self.config
        account_id = config.account or config.session.sender_comp_id
        if config.capabilities.collateral_inquiry:
            return await self._account.balances(account_id, config.account_currency)
        assert config.account_balance is not None
        return AccountReport(account_id=account_id, currency=config.account_currency,
                             balance=config.account_balance, equity=config.account_balance,
                             ts=self._now_ns())

    # -- inbound ----------------------------------------------------------------------------

    def _on_execution_report(self, message: simplefix.FixMessage) -> None:
        report = parse.execution_report(message)
        if report.kind is parse.ExecKind.STATUS:
            waiter = self._status_waiters.get(report.status_request_id or "") or \
                self._status_waiters.get(report.cl_ord_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(report)
            return
        book = self.book
        events = book.apply(report)
        root = book.root_of(report.cl_ord_id)
        for event in events:
            if isinstance(event, ev.OrderFilled):
                self._last[event.symbol] = event.last_px
            self._emit(event)
        if root is not None:
            self._answer(root, report)

    def _answer(self, root: str, report: parse.ExecReport | None) -> None:
        booked = self.book.order(root)
        for waiter in self._waiters.get(root, []):
            if waiter.answer.done() or booked is None:
                continue
            if _answers(waiter.kind, booked, report):
                waiter.answer.set_result(report)

    def _on_cancel_reject(self, message: simplefix.FixMessage) -> None:
        refused = parse.cancel_reject(message)
        book = self.book
        root = book.root_of(refused.cl_ord_id) or book.root_of(refused.orig_cl_ord_id)
        booked = book.order(root) if root else None
        if booked is None:
            logger.warning("FIX cancel reject for an order this adapter does not know",
                           extra={"fields": {"cl_ord_id": refused.cl_ord_id}})
            return
        kind = _REPLACE if refused.for_replace else _CANCEL
        waiters = [w for w in self._waiters.get(booked.root, [])
                   if w.kind == kind and not w.answer.done()]
        if not booked.external:
            reason = describe(refused.reason_code, CXL_REJ_REASONS, refused.text)
            event_type = ev.OrderModifyRejected if refused.for_replace else \
                ev.OrderCancelRejected
            self._emit(event_type(ts=refused.ts or self._now_ns(), reason=reason,
                                  **booked.base()))
        for waiter in waiters:
            waiter.answer.set_result(refused)

    # -- helpers ----------------------------------------------------------------------------

    def _emit(self, event: ev.OrderEvent) -> None:
        if self._handler is None:
            logger.warning("FIX order event with no handler bound", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})
            return
        try:
            self._handler(event)
        except Exception:  # the handler's failure must not stop the session
            logger.exception("order event handler failed", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})

    def _booked(self, client_order_id: str) -> BookOrder:
        booked = self.book.order(client_order_id)
        if booked is None:
            raise FatalVenueError(f"order {client_order_id} was never sent through this "
                                  "FIX session")
        return booked

    async def _order_request(self, booked: BookOrder, kind: str, message: simplefix.FixMessage,
                             what: str) -> object:
        waiter = _Waiter(kind, asyncio.get_running_loop().create_future())
        self._waiters.setdefault(booked.root, []).append(waiter)
        try:
            return await self.client.request(message, waiter.answer,
                                             what=f"{what} {booked.root}", changes_state=True)
        finally:
            waiters = self._waiters.get(booked.root, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(booked.root, None)

    async def _ask_status(self, cl_ord_id: str, booked: BookOrder | None
                          ) -> parse.ExecReport | None:
        request_id = self.client.new_id("S")
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._status_waiters[request_id] = answer
        self._status_waiters.setdefault(cl_ord_id, answer)
        try:
            message = parse.status_request(
                cl_ord_id, request_id, booked.symbol if booked else None,
                booked.side if booked else None,
                (booked.venue_order_id or None) if booked else None)
            self.status_requests += 1
            report = await self.client.request(message, answer, what="OrderStatusRequest",
                                               changes_state=False)
        finally:
            self._status_waiters.pop(request_id, None)
            if self._status_waiters.get(cl_ord_id) is answer:
                self._status_waiters.pop(cl_ord_id, None)
        assert isinstance(report, parse.ExecReport)
        return None if report.unknown_order else report

    async def _after_logon(self, reconnected: bool) -> None:
        if not reconnected or not self._connected:
            return
        for attempt in range(1, _RECONCILE_ATTEMPTS + 1):
            try:
                await self.client.barrier()
                await self._reconcile()
                break
            except (RetryableVenueError, OutcomeUnknownError) as exc:
                if attempt == _RECONCILE_ATTEMPTS or not self.client.logged_on:
                    raise  # the next logon reconciles again
                logger.warning("FIX reconciliation after logon failed; trying again",
                               extra={"fields": {"attempt": attempt, "error": str(exc)}})
                await asyncio.sleep(0.25 * 2 ** attempt)
        self.reconciliations += 1
        logger.info("FIX session back: open orders reconciled", extra={"fields": {
            "session": self.client.config.session_id,
            "open_orders": len(self.book.open_orders())}})

    async def _reconcile(self) -> None:
        """Ask the venue about every open or unanswered order of the book and apply what
        changed (when it answers status requests)."""
        if not self.config.capabilities.status_requests or self._book is None:
            return
        since = self._now_ns() - _INTENT_LOOKBACK_NS
        book = self._book
        for booked in [b for b in book.orders() if not b.external and (
                b.is_open or (not b.known and b.ts_last >= since))]:
            answer = await self._ask_status(booked.cl_ord_id, booked)
            for event in book.apply_status(booked, answer):
                self._emit(event)
            self._answer(booked.root, None)

    def _wire_order(self, order: Order) -> parse.WireOrder:
        caps = self.capabilities
        if order.order_type not in caps.order_types:
            raise FixUnsupportedError(f"{self.venue} takes no {order.order_type.value} orders "
                                      f"({order.client_order_id} not sent)")
        if order.order_type is OrderType.MARKET and self.config.market_as_limit:
            return self._marketable_limit(order)
        wire_order = parse.WireOrder.of(order)
        if order.time_in_force in caps.time_in_force:
            return wire_order
        fallback = self.config.time_in_force_fallback.get(order.time_in_force)
        if fallback is None:
            raise FixUnsupportedError(f"{self.venue} takes no {order.time_in_force.value} "
                                      f"orders ({order.client_order_id} not sent)")
        return replace(wire_order, time_in_force=fallback, expire_ns=None)

    def _marketable_limit(self, order: Order) -> parse.WireOrder:
        buy = order.side is OrderSide.BUY
        quote = self._quotes.get(order.symbol)
        reference = (quote[1] if buy else quote[0]) if quote else self._last.get(order.symbol)
        if reference is None or reference <= 0:
            raise FixUnsupportedError(
                f"{self.venue} takes no MARKET orders and no price of {order.symbol} is known "
                f"to send {order.client_order_id} as a marketable limit")
        tick = self._tick_of(order.symbol) or Decimal("0.01")
        shift = self.config.market_protection_pct / 100
        if buy:
            price = (reference * (1 + shift) / tick).to_integral_value(ROUND_FLOOR) * tick
            price = max(price, (reference / tick).to_integral_value(ROUND_CEILING) * tick)
        else:
            price = (reference * (1 - shift) / tick).to_integral_value(ROUND_CEILING) * tick
            price = max(tick, min(price, (reference / tick).to_integral_value(ROUND_FLOOR)
                                  * tick))
        supported = self.capabilities.time_in_force
        tif = order.time_in_force if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK) \
            and order.time_in_force in supported else next(
                (t for t in _MARKET_TIF if t in supported), None)
        if tif is None:
            raise FixUnsupportedError(f"{self.venue} takes none of IOC, DAY, GTC for a "
                                      "marketable limit")
        return parse.WireOrder(order.client_order_id, order.symbol, order.side,
                               OrderType.LIMIT, order.quantity, price, None, tif)


def _answers(kind: str, booked: BookOrder, report: parse.ExecReport | None) -> bool:
    if booked.status in TERMINAL:
        return True
    if kind == _SUBMIT:
        return booked.known or (report is not None and report.rej_reason == DUPLICATE_ORDER)
    if report is None:
        return False
    wanted = parse.ExecKind.CANCELED if kind == _CANCEL else parse.ExecKind.REPLACED
    return report.kind is wanted


def _status_report(answer: parse.ExecReport, booked: BookOrder | None) -> OrderStatusReport:
    order_type = booked.order_type if booked else (answer.order_type or OrderType.LIMIT)
    price = answer.price if order_type is not OrderType.MARKET else None
    return OrderStatusReport(
        client_order_id=booked.root if booked else answer.cl_ord_id,
        venue_order_id=answer.order_id, symbol=answer.symbol or (booked.symbol if booked else ""),
        side=answer.side or (booked.side if booked else OrderSide.BUY), order_type=order_type,
        quantity=answer.quantity or (booked.quantity if booked else answer.cum_qty),
        filled_qty=answer.cum_qty, avg_px=answer.avg_px, status=answer.status, price=price,
        trigger_price=answer.stop_px,
        time_in_force=booked.time_in_force if booked else
        (answer.time_in_force or TimeInForce.DAY),
        reason=answer.text if answer.status in TERMINAL else "",
        ts_accepted=(booked.ts_accepted if booked and booked.ts_accepted else answer.ts),
        ts_last=answer.ts)


__all__ = ["FixExecutionClient", "venue_capabilities"]
