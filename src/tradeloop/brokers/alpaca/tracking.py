"""The adapter's orders and the events sent about them (:class:`OrderTracker`).

Every source (REST answers, trade updates, REST sweeps, lookups) goes through one tracker, so
each order is accepted once, each fill is reported once (by Alpaca's execution id) whatever
order, duplicate or gap the updates come in, and a final state is reported once. Fills come
only from executions (they carry the execution id); a snapshot showing more filled than the
executions received tells the caller to read that order's activities
(:meth:`OrderTracker.missing_fills`).

An Alpaca replacement is a new order: the tracker follows our order along its chain of Alpaca
orders (``venue_order_ids``), and what earlier orders of the chain filled is ``carried`` into
the quantities it reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.brokers.tracking import OrderEvents
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
_FINAL = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


@dataclass
class Known:
    """One order as the node was told about it."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    strategy_id: str = ""
    position_id: str = ""
    venue_order_id: str = ""
    venue_client_id: str = ""
    chain: list[str] = field(default_factory=list)
    carried: Decimal = ZERO
    carried_value: Decimal = ZERO
    accepted: bool = False
    closed: bool = False
    venue_filled: Decimal = ZERO
    trades: dict[str, Decimal] = field(default_factory=dict)
    unidentified: Decimal = ZERO  # filled before the adapter knew the order, trades unknown
    ts_accepted: int = 0

    @property
    def filled(self) -> Decimal:
        """What the node was told (or already knew) has filled."""
        return sum(self.trades.values(), ZERO) + self.unidentified

    @property
    def done(self) -> bool:
        """True once nothing more can happen to the order."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)

    @property
    def replacements(self) -> int:
        """How many times the order was replaced at Alpaca."""
        return max(0, len(self.chain) - 1)


class OrderTracker(OrderEvents):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time for events Alpaca gave no time for.
    """

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now = now_ns
        super().__init__()
        self._orders: dict[str, Known] = {}
        self._by_venue_id: dict[str, str] = {}
        #: Executions dropped because their id had been reported already.
        self.duplicates_dropped = 0

    # -- what is tracked ----------------------------------------------------------------------

    def add(self, order: Order) -> Known:
        """Track an order this adapter is sending."""
        known = self._orders.get(order.client_order_id)
        if known is None:
            known = Known(order.client_order_id, order.symbol, order.side, order.quantity,
                          order.price, order.trigger_price, order.strategy_id,
                          order.position_id or "")
            self._orders[order.client_order_id] = known
        return known

    def adopt(self, report: OrderStatusReport, venue_client_id: str = "",
              chain: list[str] | None = None, carried: Decimal = ZERO) -> Known:
        """Track an order learned from Alpaca (a lookup, a restart) as the caller applies
        ``report`` itself: accepted, with the quantity the report says filled."""
        known = self._orders.get(report.client_order_id)
        if known is None:
            known = Known(report.client_order_id, report.symbol, report.side, report.quantity,
                          report.price, report.trigger_price, unidentified=report.filled_qty,
                          venue_filled=report.filled_qty)
            self._orders[report.client_order_id] = known
        known.accepted = known.accepted or report.status is not OrderStatus.REJECTED
        known.closed = known.closed or report.status in _FINAL
        known.ts_accepted = known.ts_accepted or report.ts_accepted
        for venue_id in chain or [report.venue_order_id]:
            self.link(known, venue_id)
        if venue_client_id:
            known.venue_client_id = venue_client_id
        known.carried = max(known.carried, carried)
        return known

    def get(self, client_order_id: str) -> Known | None:
        """The tracked order with this id."""
        return self._orders.get(client_order_id)

    def client_id_of(self, venue_order_id: str) -> str | None:
        """Our id of an Alpaca order id (any order of the chain), when tracked."""
        return self._by_venue_id.get(venue_order_id)

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self._orders.values() if not k.done]

    def forget_done(self, keep: int = 10_000) -> None:
        """Drop the oldest finished orders beyond ``keep``."""
        done = [cid for cid, k in self._orders.items() if k.done]
        for cid in done[:max(0, len(done) - keep)]:
            known = self._orders.pop(cid)
            for venue_id in known.chain:
                self._by_venue_id.pop(venue_id, None)

    def link(self, known: Known, venue_order_id: str, venue_client_id: str = "") -> None:
        """``venue_order_id`` is (the latest order of the chain of) ``known``."""
        if not venue_order_id:
            return
        if venue_order_id not in known.chain:
            known.chain.append(venue_order_id)
            known.venue_order_id = venue_order_id
        self._by_venue_id[venue_order_id] = known.client_order_id
        if venue_client_id:
            known.venue_client_id = venue_client_id

    # -- what arrives -------------------------------------------------------------------------

    def missing_fills(self, report: OrderStatusReport) -> bool:
        """True when ``report`` shows more filled than the executions reported so far."""
        known = self._orders.get(report.client_order_id)
        return known is not None and report.filled_qty > known.filled

    def on_report(self, report: OrderStatusReport) -> None:
        """Apply a snapshot of the order's latest Alpaca order (quantities already ours)."""
        known = self._orders.get(report.client_order_id)
        if known is None:
            return
        if report.venue_order_id and report.venue_order_id != known.venue_order_id \
                and report.venue_order_id in known.chain:
            return  # a snapshot of an order the chain has moved past
        self.link(known, report.venue_order_id)
        known.venue_filled = max(known.venue_filled, report.filled_qty)
        if known.closed:
            return
        base = self._base(known)
        if report.status is OrderStatus.REJECTED:
            if known.filled == 0:
                known.closed = True
                self._emit(ev.OrderRejected(ts=report.ts_last or self._now(),
                                            reason=report.reason or "rejected by Alpaca",
                                            **base))
            return
        self._accept(known, report.ts_accepted)
        if report.is_open:
            self._update(known, report)
        if report.status in _FINAL:
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **base))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **base))

    def on_fill(self, fill: FillReport) -> None:
        """Apply one execution (once per execution id)."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is None:
            return
        if fill.trade_id in known.trades:
            self.duplicates_dropped += 1
            return
        if 0 < fill.quantity <= known.unidentified:
            known.unidentified -= fill.quantity  # the node had it before the adapter did
            known.trades[fill.trade_id] = fill.quantity
            return
        if known.filled + fill.quantity > known.quantity:
            logger.error("an execution would overfill the order; not reported", extra={
                "fields": {"client_order_id": cid, "trade_id": fill.trade_id,
                           "filled": str(known.filled), "quantity": str(known.quantity)}})
            return
        self._accept(known, fill.ts)
        known.trades[fill.trade_id] = fill.quantity
        known.venue_filled = max(known.venue_filled, known.filled)
        self._emit(ev.OrderFilled(
            ts=fill.ts or self._now(), venue_order_id=fill.venue_order_id or
            known.venue_order_id, trade_id=fill.trade_id, side=fill.side,
            last_qty=fill.quantity, last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, liquidity=fill.liquidity,
            position_id=known.position_id, **self._base(known)))

    def seen(self, fill: FillReport) -> None:
        """Mark an execution as known to the node (reconciliation books it) without an
        event."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is not None and fill.trade_id not in known.trades:
            known.trades[fill.trade_id] = fill.quantity
            known.unidentified = max(ZERO, known.unidentified - fill.quantity)

    def accept(self, client_order_id: str, venue_order_id: str, venue_client_id: str,
               ts: int) -> None:
        """Alpaca booked the order (as a leg of a group, or from a submit's answer)."""
        known = self._orders.get(client_order_id)
        if known is None:
            return
        self.link(known, venue_order_id, venue_client_id)
        if not known.closed:
            self._accept(known, ts)

    def reject(self, client_order_id: str, reason: str) -> None:
        """Our order will not reach Alpaca (its group was refused)."""
        known = self._orders.get(client_order_id)
        if known is None or known.closed or known.accepted:
            return
        known.closed = True
        self._emit(ev.OrderRejected(ts=self._now(), reason=reason, **self._base(known)))

    def replaced(self, client_order_id: str, report: OrderStatusReport, venue_client_id: str,
                 carried: Decimal, carried_value: Decimal) -> None:
        """Alpaca replaced our order (a modify): ``report`` is the replacement's."""
        known = self._orders.get(client_order_id)
        if known is None:
            return
        self.link(known, report.venue_order_id, venue_client_id)
        known.carried, known.carried_value = carried, carried_value
        if not known.closed and report.is_open:
            self._accept(known, report.ts_accepted)
            self._update(known, report)

    # -- helpers ------------------------------------------------------------------------------

    def _accept(self, known: Known, ts: int) -> None:
        if known.accepted:
            return
        known.accepted = True
        known.ts_accepted = known.ts_accepted or ts
        self._emit(ev.OrderAccepted(ts=ts or self._now(), venue_order_id=known.venue_order_id,
                                    **self._base(known)))


__all__ = ["Known", "OrderTracker"]
