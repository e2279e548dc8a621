"""What the adapter has told the node about each order, and the events that bring the node up
to Fyers' view (:class:`OrderTracker`).

Order snapshots (a REST answer, a poll of the order book, an order socket message) and trades
(the trade book) arrive in any order and may repeat. They become order events, each once:
``OrderAccepted`` before anything else, ``OrderUpdated`` when a working order changed, one
``OrderFilled`` per trade number (a trade seen twice is dropped), and the final cancel, expiry
or rejection once. Fills come only from the trade book, which carries the trade number, never
from a snapshot's filled quantity: a snapshot that shows more filled than was reported tells
the caller to read the trade book (:meth:`OrderTracker.missing_fills`).
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
    accepted: bool = False
    closed: bool = False
    trades: dict[str, Decimal] = field(default_factory=dict)
    unidentified: Decimal = ZERO  # filled before the adapter knew the order, trades unknown

    @property
    def filled(self) -> Decimal:
        """What the node was told (or already knew) has filled."""
        return sum(self.trades.values(), ZERO) + self.unidentified

    @property
    def done(self) -> bool:
        """True once nothing more can happen to the order."""
        return self.closed or (self.quantity > 0 and self.filled >= self.quantity)


class OrderTracker(OrderEvents):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time of events that carry no Fyers time.
    """

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now = now_ns
        super().__init__()
        self._orders: dict[str, Known] = {}
        self._by_venue_id: dict[str, str] = {}
        #: Trades dropped because their trade number had been reported already.
        self.duplicates_dropped = 0

    # -- what is tracked ---------------------------------------------------------------------

    def add(self, order: Order) -> Known:
        """Track an order the adapter is sending."""
        known = self._orders.get(order.client_order_id)
        if known is None:
            known = Known(order.client_order_id, order.symbol, order.side, order.quantity,
                          order.price, order.trigger_price, order.strategy_id,
                          order.position_id or "")
            self._orders[order.client_order_id] = known
        return known

    def adopt(self, report: OrderStatusReport) -> Known:
        """Track an order learned from Fyers (after a restart) as the node takes it from
        ``report``: accepted, with what the report says filled."""
        known = self._orders.get(report.client_order_id)
        if known is not None:
            return known
        known = Known(report.client_order_id, report.symbol, report.side, report.quantity,
                      report.price, report.trigger_price, venue_order_id=report.venue_order_id,
                      accepted=report.status is not OrderStatus.REJECTED,
                      closed=report.status in _FINAL, unidentified=report.filled_qty)
        self._orders[report.client_order_id] = known
        if report.venue_order_id:
            self._by_venue_id[report.venue_order_id] = report.client_order_id
        return known

    def get(self, client_order_id: str) -> Known | None:
        """The tracked order with this id."""
        return self._orders.get(client_order_id)

    def client_id_of(self, venue_order_id: str) -> str | None:
        """Our id of a Fyers order id, when tracked."""
        return self._by_venue_id.get(venue_order_id)

    def link(self, client_order_id: str, venue_order_id: str) -> None:
        """Note Fyers' id of a tracked order."""
        known = self._orders.get(client_order_id)
        if known is not None:
            self._link(known, venue_order_id)

    def close(self, client_order_id: str) -> None:
        """Nothing more will be reported about this order (it was refused outright)."""
        known = self._orders.get(client_order_id)
        if known is not None:
            known.closed = True

    def working(self) -> list[Known]:
        """Tracked orders that can still change."""
        return [k for k in self._orders.values() if not k.done]

    def forget_done(self, keep: int = 10_000) -> None:
        """Drop the oldest finished orders beyond ``keep``."""
        done = [cid for cid, k in self._orders.items() if k.done]
        for cid in done[:max(0, len(done) - keep)]:
            known = self._orders.pop(cid)
            self._by_venue_id.pop(known.venue_order_id, None)

    # -- what arrives ------------------------------------------------------------------------

    def missing_fills(self, report: OrderStatusReport) -> bool:
        """True when ``report`` shows more filled than the trades reported so far."""
        known = self._orders.get(report.client_order_id)
        return known is not None and report.filled_qty > known.filled

    def on_report(self, report: OrderStatusReport) -> None:
        """Apply an order snapshot."""
        known = self._orders.get(report.client_order_id)
        if known is None:
            return
        self._link(known, report.venue_order_id)
        if known.closed:
            return
        base = self._base(known)
        if report.status is OrderStatus.REJECTED:
            if known.filled == 0:
                known.closed = True
                self._emit(ev.OrderRejected(ts=report.ts_last or self._now(),
                                            reason=report.reason or "rejected by Fyers",
                                            **base))
            return
        self._accept(known, report.ts_accepted)
        if report.is_open:
            self._update(known, report)
        if report.status in _FINAL and report.filled_qty <= known.filled:
            known.closed = True
            ts = report.ts_last or self._now()
            if report.status is OrderStatus.EXPIRED:
                self._emit(ev.OrderExpired(ts=ts, **base))
            else:
                self._emit(ev.OrderCanceled(ts=ts, reason=report.reason, **base))

    def on_fill(self, fill: FillReport) -> bool:
        """Apply one trade (once per trade number); True when it was new."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is None:
            return False
        if fill.trade_id in known.trades:
            self.duplicates_dropped += 1
            return False
        if 0 < fill.quantity <= known.unidentified:
            # a trade from before the adapter knew the order: the node has it already
            known.unidentified -= fill.quantity
            known.trades[fill.trade_id] = fill.quantity
            return False
        if known.filled + fill.quantity > known.quantity:
            logger.error("a trade would overfill the order; not reported", extra={"fields": {
                "client_order_id": cid, "trade_id": fill.trade_id,
                "filled": str(known.filled), "quantity": str(known.quantity)}})
            return False
        self._link(known, fill.venue_order_id)
        self._accept(known, fill.ts)
        known.trades[fill.trade_id] = fill.quantity
        self._emit(ev.OrderFilled(
            ts=fill.ts or self._now(), venue_order_id=fill.venue_order_id or
            known.venue_order_id, trade_id=fill.trade_id, side=fill.side,
            last_qty=fill.quantity, last_px=fill.price, commission=fill.commission,
            commission_currency=fill.commission_currency, liquidity=fill.liquidity,
            position_id=known.position_id, **self._base(known)))
        return True

    def seen(self, fill: FillReport) -> None:
        """Mark a trade as known to the node (reconciliation books it) without an event."""
        cid = fill.client_order_id or self._by_venue_id.get(fill.venue_order_id, "")
        known = self._orders.get(cid)
        if known is not None and fill.trade_id not in known.trades:
            known.trades[fill.trade_id] = fill.quantity
            known.unidentified = max(ZERO, known.unidentified - fill.quantity)

    # -- helpers -----------------------------------------------------------------------------

    def _link(self, known: Known, venue_order_id: str) -> None:
        if venue_order_id and not known.venue_order_id:
            known.venue_order_id = venue_order_id
            self._by_venue_id[venue_order_id] = known.client_order_id

    def _accept(self, known: Known, ts: int) -> None:
        if known.accepted:
            return
        known.accepted = True
        self._emit(ev.OrderAccepted(ts=ts or self._now(), venue_order_id=known.venue_order_id,
                                    **self._base(known)))


__all__ = ["Known", "OrderTracker"]
