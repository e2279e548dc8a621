"""Reconciliation: bring the local orders and positions in line with what the venue reports.

Run at start, after every reconnect and periodically. Local orders whose outcome is not known are
looked up one by one by client order id; fills and orders the node did not know are adopted and
tagged external; a local order the venue does not have is closed only after that targeted lookup.
Nothing here invents a fill: when positions still differ afterwards, the report says so and the
node refuses to trade.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.core.clock import Clock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.logging import get_logger
from tradeloop.execution.ports import LiveExecutionClient
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.enums import OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport

log = get_logger(__name__)

EXTERNAL = "EXTERNAL"
"""Strategy id of orders the node adopted from the venue without having sent them."""

_IN_FLIGHT = frozenset({OrderStatus.INITIALIZED, OrderStatus.SUBMITTED})
ZERO = Decimal(0)


def fill_event(report: FillReport, order: Order) -> ev.OrderFilled:
    """The fill event of a venue's fill report, for ``order``."""
    return ev.OrderFilled(
        ts=report.ts, client_order_id=report.client_order_id, strategy_id=order.strategy_id,
        symbol=report.symbol, venue_order_id=report.venue_order_id, trade_id=report.trade_id,
        side=report.side, last_qty=report.quantity, last_px=report.price,
        commission=report.commission, commission_currency=report.commission_currency,
        liquidity=report.liquidity, position_id=order.position_id or "",
    )


def catch_up_events(order: Order, report: OrderStatusReport, fills: Sequence[FillReport],
                    now_ns: int) -> list[ev.OrderEvent]:
    """The events that take the local ``order`` to the state the venue reports.

    Fills the order already has (by trade id) are left out; fills come before a final
    cancellation or expiry, as they happened.
    """
    base = {"client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
            "symbol": order.symbol}
    ts = report.ts_last or now_ns
    out: list[ev.OrderEvent] = []
    if order.status is OrderStatus.INITIALIZED:
        out.append(ev.OrderSubmitted(ts=report.ts_accepted or ts, **base))
    if report.status is OrderStatus.REJECTED:
        if order.status in _IN_FLIGHT:
            out.append(ev.OrderRejected(ts=ts, reason=report.reason or "rejected", **base))
        return out
    if order.status in _IN_FLIGHT:
        out.append(ev.OrderAccepted(ts=report.ts_accepted or ts,
                                    venue_order_id=report.venue_order_id, **base))
    for fill in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
        if fill.trade_id not in order.trade_ids:
            out.append(fill_event(fill, order))
    if not order.is_closed:
        if report.status is OrderStatus.CANCELED:
            out.append(ev.OrderCanceled(ts=ts, reason=report.reason, **base))
        elif report.status is OrderStatus.EXPIRED:
            out.append(ev.OrderExpired(ts=ts, **base))
    return out


@dataclass
class ReconciliationReport:
    """What one reconciliation found and did.

    Attributes
    ----------
    resolved : dict of str to str
        Local orders whose state was brought up to date, with the venue's status.
    closed_missing : list of str
        Local orders the venue has no record of (after a targeted lookup), closed locally.
    adopted_orders : list of str
        Venue orders the node did not know, adopted as external.
    adopted_fills : int
        Fills booked from the venue's reports.
    position_mismatches : list of str
        ``"EURUSD: local 1000, venue 0"`` for every instrument that still differs.
    """

    resolved: dict[str, str] = field(default_factory=dict)
    closed_missing: list[str] = field(default_factory=list)
    adopted_orders: list[str] = field(default_factory=list)
    adopted_fills: int = 0
    position_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when local positions equal the venue's."""
        return not self.position_mismatches

    def summary(self) -> str:
        """One line for logs and the console."""
        text = (f"{len(self.resolved)} order(s) brought up to date, {len(self.closed_missing)} "
                f"missing at the venue closed, {len(self.adopted_orders)} external order(s) and "
                f"{self.adopted_fills} fill(s) adopted")
        if self.position_mismatches:
            text += "; positions differ: " + "; ".join(self.position_mismatches)
        return text


class Reconciler:
    """Compares the cache with one venue and applies what it learns through ``process``.

    Parameters
    ----------
    cache : Cache
        Local orders, positions and instruments.
    client : LiveExecutionClient
    process : callable
        The execution engine's ``process``: applies an event, books fills, publishes.
    clock : Clock
    """

    def __init__(self, cache: Cache, client: LiveExecutionClient,
                 process: Callable[[ev.OrderEvent], None], clock: Clock) -> None:
        self._cache = cache
        self._client = client
        self._process = process
        self._clock = clock

    async def reconcile(self, fills_since_ns: int) -> ReconciliationReport:
        """Run one reconciliation.

        Parameters
        ----------
        fills_since_ns : int
            Ask the venue for fills from this time on: the earliest moment a fill could be
            missing locally (the oldest open order, or the last known fill).
        """
        report = ReconciliationReport()
        venue_open = {r.client_order_id: r for r in await self._client.open_orders()}
        fills: dict[str, list[FillReport]] = defaultdict(list)
        for fill in await self._client.fills_since(fills_since_ns):
            fills[fill.client_order_id].append(fill)
        now = self._clock.now_ns()
        for order in [o for o in self._cache.orders.values() if not o.is_closed]:
            if self._venue_of(order) != self._client.venue:
                continue
            found = venue_open.get(order.client_order_id)
            if found is None:
                found = await self._client.order_status(order.client_order_id)
            if found is None:
                self._close_missing(order, now)
                report.closed_missing.append(order.client_order_id)
                continue
            report.adopted_fills += self._apply(order, found, fills.pop(order.client_order_id, []),
                                                now)
            if found.is_open and order.status in (OrderStatus.PENDING_CANCEL,
                                                  OrderStatus.PENDING_UPDATE):
                await self._settle_lost_request(order, found, now)
            report.resolved[order.client_order_id] = found.status.value
        for cid, venue_fills in list(fills.items()):
            known = self._cache.order(cid)
            if known is None:
                status = venue_open.get(cid) or await self._client.order_status(cid)
                adopted = self._adopt(cid, status, venue_fills, now)
                report.adopted_orders.append(cid)
                report.adopted_fills += self._apply(adopted, status, venue_fills, now)
            else:  # a final local order missing some of its fills
                report.adopted_fills += self._book_missing_fills(known, venue_fills)
            venue_open.pop(cid, None)
        for cid, status in venue_open.items():
            if self._cache.order(cid) is None:
                report.adopted_orders.append(cid)
                self._apply(self._adopt(cid, status, [], now), status, [], now)
        report.position_mismatches = await self._compare_positions()
        log.info("reconciled", extra={"fields": {"venue": self._client.venue,
                                                 "summary": report.summary()}})
        return report

    def _apply(self, order: Order, status: OrderStatusReport | None,
               fills: Sequence[FillReport], now: int) -> int:
        before = len(order.trade_ids)
        if status is None:
            return self._book_missing_fills(order, fills)
        for event in catch_up_events(order, status, fills, now):
            self._process(event)
        return len(order.trade_ids) - before

    def _book_missing_fills(self, order: Order, fills: Sequence[FillReport]) -> int:
        before = len(order.trade_ids)
        for fill in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
            if fill.trade_id not in order.trade_ids:
                self._process(fill_event(fill, order))
        return len(order.trade_ids) - before

    async def _settle_lost_request(self, order: Order, report: OrderStatusReport,
                                   now: int) -> None:
        """A cancel or modify was on its way when the node stopped, and the venue still has
        the order working: send the cancel again; take a modify as the venue reports it."""
        base = {"client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
                "symbol": order.symbol}
        if order.status is OrderStatus.PENDING_CANCEL:
            log.warning("sending a cancel again: it was lost when the node stopped",
                        extra={"fields": {"client_order_id": order.client_order_id}})
            try:
                await self._client.cancel_order(order)
                return
            except TradeloopError as exc:
                self._process(ev.OrderCancelRejected(ts=now, reason=str(exc), **base))
                return
        changed = (report.quantity != order.quantity or report.price != order.price
                   or report.trigger_price != order.trigger_price)
        if changed:
            self._process(ev.OrderUpdated(ts=now, quantity=report.quantity, price=report.price,
                                          trigger_price=report.trigger_price, **base))
        else:
            self._process(ev.OrderModifyRejected(
                ts=now, reason="the change was lost when the node stopped; the venue kept "
                "the order as it was", **base))

    def _close_missing(self, order: Order, now: int) -> None:
        base = {"client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
                "symbol": order.symbol}
        reason = "the venue has no record of this order (looked up after a restart or reconnect)"
        if order.status is OrderStatus.INITIALIZED:
            self._process(ev.OrderDenied(ts=now, reason=f"never sent: {reason}", **base))
        elif order.status is OrderStatus.SUBMITTED:
            self._process(ev.OrderRejected(ts=now, reason=f"never reached the venue: {reason}",
                                           **base))
        else:
            self._process(ev.OrderCanceled(ts=now, reason=reason, **base))
        log.warning("closed a local order the venue does not have", extra={"fields": {
            "client_order_id": order.client_order_id, "status": order.status.value}})

    def _adopt(self, cid: str, status: OrderStatusReport | None,
               fills: Sequence[FillReport], now: int) -> Order:
        first = status or fills[0]
        quantity = status.quantity if status else sum((f.quantity for f in fills), ZERO)
        order = Order(
            client_order_id=cid, strategy_id=EXTERNAL, symbol=first.symbol, side=first.side,
            order_type=status.order_type if status else OrderType.MARKET, quantity=quantity,
            ts_init=(status.ts_accepted if status else fills[0].ts) or now,
            price=status.price if status else None,
            trigger_price=status.trigger_price if status else None,
            time_in_force=status.time_in_force if status else TimeInForce.GTC, tags=("external",),
        )
        self._cache.add_order(order)
        if status is None:  # only fills known: the order was accepted and filled
            self._process(ev.OrderSubmitted(ts=order.ts_init, client_order_id=cid,
                                            strategy_id=EXTERNAL, symbol=order.symbol))
            self._process(ev.OrderAccepted(ts=order.ts_init, client_order_id=cid,
                                           strategy_id=EXTERNAL, symbol=order.symbol,
                                           venue_order_id=fills[0].venue_order_id))
        log.warning("adopted an order the node did not send", extra={"fields": {
            "client_order_id": cid, "symbol": order.symbol}})
        return order

    def _venue_of(self, order: Order) -> str:
        instrument = self._cache.instruments.get(order.symbol)
        return instrument.venue if instrument is not None else self._client.venue

    async def _compare_positions(self) -> list[str]:
        local: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for position in self._cache.positions.values():
            instrument = self._cache.instruments.get(position.symbol)
            if instrument is not None and instrument.venue != self._client.venue:
                continue
            if not position.is_flat:
                local[position.symbol] += position.quantity
        venue = {p.symbol: p.quantity for p in await self._client.positions()}
        problems = []
        for symbol in sorted(set(local) | set(venue)):
            mine, theirs = local.get(symbol, ZERO), venue.get(symbol, ZERO)
            if mine != theirs:
                problems.append(f"{symbol}: local {mine.normalize():f}, venue "
                                f"{theirs.normalize():f}")
        return problems


__all__ = ["EXTERNAL", "Reconciler", "ReconciliationReport", "catch_up_events", "fill_event"]
