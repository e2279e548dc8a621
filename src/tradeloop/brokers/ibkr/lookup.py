"""Finding orders and executions at IB by our client order id (``orderRef``): the lookups
behind an unclear outcome, reconciliation, cancels and modifies of orders this session did
not place (:class:`Lookup`, the read side of the execution client).

A trade ib_async created when an order was placed proves nothing by itself (the order may never
have reached IB); it counts once IB answered for it (a permId, a status, an execution).
Otherwise IB is asked: its open orders, its completed orders, then its executions.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from tradeloop.brokers.ibkr import orders, parse
from tradeloop.brokers.ibkr.client import IbkrClient
from tradeloop.brokers.ibkr.contracts import ContractBook
from tradeloop.brokers.ibkr.errors import IbkrFatalError
from tradeloop.brokers.ibkr.tracking import Known, Tracker
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import OrderStatus, OrderType
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)
_CLOSED = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


def booked(trade: Any) -> bool:
    """True once IB answered for the trade (not just ib_async's record of a placement)."""
    return bool(trade.order.permId or trade.orderStatus.status not in parse.UNANSWERED
                or trade.fills)


class Lookup:
    """IB's open orders, completed orders and executions, read by client order id.

    Parameters
    ----------
    client : IbkrClient
    book : ContractBook
    tracker : Tracker
    """

    def __init__(self, client: IbkrClient, book: ContractBook, tracker: Tracker) -> None:
        self.client = client
        self.config = client.config
        self.book = book
        self.tracker = tracker

    # -- requests -------------------------------------------------------------------------------

    async def _open_trades(self) -> list[Any]:
        ib = self.client.ib
        return list(await self.client.request("open orders", ib.reqAllOpenOrdersAsync,
                                              lock="openOrders"))

    async def _completed_trades(self) -> list[Any]:
        ib = self.client.ib
        return list(await self.client.request(
            "completed orders", lambda: ib.reqCompletedOrdersAsync(False),
            lock="completedOrders"))

    async def _executions(self) -> list[Any]:
        found = await self.client.request("executions", self.client.ib.reqExecutionsAsync)
        account = self.client.account
        return [f for f in found if not account or not f.execution.acctNumber
                or f.execution.acctNumber == account]

    # -- mapping --------------------------------------------------------------------------------

    def _ours(self, trade: Any) -> bool:
        return bool(trade.order.clientId == self.config.client_id)

    def _known_of(self, trade: Any) -> Known | None:
        """The tracked order of an IB trade (by orderRef, else by this client's order id)."""
        if self._ours(trade) and trade.order.orderId in self.tracker.refused:
            return None
        known = self.tracker.orders.get(trade.order.orderRef) if trade.order.orderRef else None
        if known is None and self._ours(trade):
            known = self.tracker.of_order_id(trade.order.orderId)
        if known is not None and known.order_id and self._ours(trade) \
                and trade.order.orderId != known.order_id:
            return None  # an earlier placement IB refused; the order lives on another id
        return known

    def _adopt(self, trade: Any) -> Known:
        """Track an order found at IB (placed before this session, or elsewhere)."""
        known = self._known_of(trade)
        if known is None:
            order = trade.order
            known = self.tracker.add(Known(
                parse.client_order_id(order.orderRef, order.permId),
                self.book.symbol_of(trade.contract), parse.side(order.action),
                parse.quantity(order.totalQuantity), accepted=booked(trade)))
        if self._ours(trade) and not known.order_id:
            self.tracker.link(known, trade.order.orderId)
        return known

    def _trade_in_session(self, order_id: int) -> Any | None:
        wrapper = self.client.ib.wrapper
        return wrapper.trades.get((wrapper.clientId, order_id)) if order_id else None

    async def _trade_of(self, known: Known, ask: bool = False) -> Any | None:
        """IB's trade of a tracked order (asking IB when this session's record is not
        enough, or when ``ask``)."""
        trade = self._trade_in_session(known.order_id)
        if trade is not None and booked(trade) and not ask:
            return trade
        found = await self._find_trade(known.client_order_id)
        return found if found is not None else trade

    async def _find_trade(self, client_order_id: str) -> Any | None:
        for source in (self._open_trades, self._completed_trades):
            matches = [t for t in await source() if t.order.orderRef == client_order_id]
            if matches:
                return max(matches, key=lambda t: (t.order.permId, t.order.orderId))
        return None

    async def _tick(self, symbol: str) -> Decimal | None:
        tick = self.book.tick(symbol)
        if tick is None and symbol in self.config.contracts:
            try:
                await self.book.details(symbol)
            except (ConfigError, IbkrFatalError):
                return None
            tick = self.book.tick(symbol)
        return tick

    def _fill(self, fill: Any, client_order_id: str = "") -> FillReport:
        symbol = self.book.symbol_of(fill.contract)
        stored = self.client.ib.wrapper.fills.get(fill.execution.execId)
        return parse.fill_report(fill, symbol, self.book.tick(symbol), client_order_id,
                                 commission_of=stored)

    async def _executions_of(self, known: Known) -> list[FillReport]:
        out = []
        for fill in await self._executions():
            execution = fill.execution
            if execution.orderRef == known.client_order_id or (
                    known.order_id and execution.orderId == known.order_id
                    and execution.clientId == self.config.client_id):
                await self._tick(self.book.symbol_of(fill.contract))
                out.append(self._fill(fill, known.client_order_id))
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    def _bare_order(self, known: Known) -> Any:
        return orders.bare(known.order_id, self.config.client_id, known.client_order_id)

    async def _known(self, order: Any) -> Known:
        """The tracked order of a cancel or modify (looked up at IB when not tracked)."""
        known = self.tracker.orders.get(order.client_order_id)
        if known is not None and known.order_id:
            return known
        await self.lookup(order.client_order_id)
        known = self.tracker.orders.get(order.client_order_id)
        if known is None or not known.order_id:
            raise IbkrFatalError(f"{order.client_order_id} is unknown to IB (or was placed by "
                                 "another API client)")
        return known

    # -- the port's reads ----------------------------------------------------------------------

    async def lookup(self, client_order_id: str) -> OrderStatusReport | None:
        """IB's view of one order, found by its ``orderRef``; its executions count as seen
        (the caller applies the report and the fills itself)."""
        await self.client.ready()
        known = self.tracker.orders.get(client_order_id)
        trade = self._trade_in_session(known.order_id) if known is not None else None
        if trade is None or not booked(trade):
            trade = await self._find_trade(client_order_id)
        probe = known or Known(client_order_id, "", parse.side("BUY"), Decimal(0))
        fills = await self._executions_of(probe)
        if trade is None and not fills:
            return None
        if trade is not None:
            symbol = self.book.symbol_of(trade.contract)
            report = parse.order_report(trade, symbol, await self._tick(symbol), fills)
            known = self._adopt(trade)
        else:
            report = _report_of_fills(client_order_id, fills)
            known = known or self.tracker.add(Known(client_order_id, report.symbol,
                                                    report.side, report.quantity))
        known.accepted = known.accepted or report.status is not OrderStatus.REJECTED
        known.closed = known.closed or report.status in _CLOSED
        for fill in fills:
            self.tracker.seen(known, fill)
        return report

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every working order placed through the API (with an ``orderRef``, or by this
        client id)."""
        out = []
        for trade in await self._open_trades():
            if trade.isDone() or not (trade.order.orderRef or self._ours(trade)):
                continue
            symbol = self.book.symbol_of(trade.contract)
            report = parse.order_report(trade, symbol, await self._tick(symbol))
            if report.is_open:
                out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Executions at or after ``ts_ns`` (as far back as IB keeps them), oldest first."""
        out = []
        for fill in await self._executions():
            symbol = self.book.symbol_of(fill.contract)
            await self._tick(symbol)
            report = self._fill(fill)
            if report.ts < ts_ns:
                continue
            known = self.tracker.orders.get(report.client_order_id)
            if known is not None:
                self.tracker.seen(known, report)
            out.append(report)
        unique = {f.trade_id: f for f in out}
        return sorted(unique.values(), key=lambda f: (f.ts, f.trade_id))


def _report_of_fills(client_order_id: str, fills: list[FillReport]) -> OrderStatusReport:
    """An order known only by its executions (IB forgot the order itself): filled."""
    qty = sum((f.quantity for f in fills), Decimal(0))
    avg = sum((f.quantity * f.price for f in fills), Decimal(0)) / qty
    first = fills[0]
    return OrderStatusReport(
        client_order_id=client_order_id, venue_order_id=first.venue_order_id,
        symbol=first.symbol, side=first.side, order_type=OrderType.MARKET, quantity=qty,
        filled_qty=qty, avg_px=avg, status=OrderStatus.FILLED, ts_accepted=first.ts,
        ts_last=fills[-1].ts)


__all__ = ["Lookup", "booked"]
