"""A scripted counterparty for the live order path: an in-memory venue that keeps orders by
client order id (refusing a second order with the same id), fills market orders on request, and
fails the next calls as a test tells it to."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport


@dataclass
class ScriptedVenue:
    venue: str = "SIM"
    capabilities: VenueCapabilities = field(default_factory=VenueCapabilities)
    orders: dict[str, OrderStatusReport] = field(default_factory=dict)
    fills: list[FillReport] = field(default_factory=list)
    positions_: dict[str, Decimal] = field(default_factory=dict)
    # what the next submit calls do: "ok", "retry", "fatal", "unknown_after_accept",
    # "unknown_before_accept"
    script: deque[str] = field(default_factory=deque)
    lookup_script: deque[str] = field(default_factory=deque)
    submits: list[str] = field(default_factory=list)
    handler: EventHandler | None = None
    push_events: bool = True
    _seq: int = 0

    def bind(self, handler: EventHandler) -> None:
        self.handler = handler

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def submit_order(self, order: Order) -> None:
        self.submits.append(order.client_order_id)
        step = self.script.popleft() if self.script else "ok"
        if step == "retry":
            raise RetryableVenueError("rate limited (429)")
        if step == "fatal":
            raise FatalVenueError("insufficient funds")
        if step == "unknown_before_accept":
            raise OutcomeUnknownError("timed out after sending")
        if order.client_order_id in self.orders:
            return  # a duplicate id never opens a second order
        self._seq += 1
        self.orders[order.client_order_id] = OrderStatusReport(
            client_order_id=order.client_order_id, venue_order_id=f"V{self._seq}",
            symbol=order.symbol, side=order.side, order_type=order.order_type,
            quantity=order.quantity, price=order.price, ts_accepted=order.ts_init,
            ts_last=order.ts_init,
        )
        if step == "unknown_after_accept":
            raise OutcomeUnknownError("timed out after the venue accepted")
        if self.push_events and self.handler is not None:
            self.handler(ev.OrderAccepted(
                ts=order.ts_init, client_order_id=order.client_order_id,
                strategy_id=order.strategy_id, symbol=order.symbol,
                venue_order_id=f"V{self._seq}"))

    def fill(self, client_order_id: str, price: str, ts: int, qty: Decimal | None = None,
             push: bool = True) -> FillReport:
        """Fill a resting order (all of it unless ``qty``)."""
        report = self.orders[client_order_id]
        quantity = qty if qty is not None else report.quantity - report.filled_qty
        fill = FillReport(
            client_order_id=client_order_id, venue_order_id=report.venue_order_id,
            trade_id=f"T{len(self.fills) + 1}", symbol=report.symbol, side=report.side,
            quantity=quantity, price=Decimal(price), ts=ts,
        )
        self.fills.append(fill)
        filled = report.filled_qty + quantity
        self.orders[client_order_id] = OrderStatusReport(**{
            **{f: getattr(report, f) for f in report.__struct_fields__},
            "filled_qty": filled, "avg_px": Decimal(price), "ts_last": ts,
            "status": OrderStatus.FILLED if filled == report.quantity
            else OrderStatus.PARTIALLY_FILLED,
        })
        sign = 1 if report.side.value == "BUY" else -1
        self.positions_[report.symbol] = self.positions_.get(report.symbol, Decimal(0)) + (
            sign * quantity)
        if push and self.handler is not None:
            self.handler(ev.OrderFilled(
                ts=ts, client_order_id=client_order_id, symbol=report.symbol,
                venue_order_id=report.venue_order_id, trade_id=fill.trade_id, side=report.side,
                last_qty=quantity, last_px=Decimal(price)))
        return fill

    async def cancel_order(self, order: Order) -> None:
        report = self.orders[order.client_order_id]
        self.orders[order.client_order_id] = OrderStatusReport(**{
            **{f: getattr(report, f) for f in report.__struct_fields__},
            "status": OrderStatus.CANCELED})
        if self.handler is not None:
            self.handler(ev.OrderCanceled(ts=order.ts_init, client_order_id=order.client_order_id,
                                          strategy_id=order.strategy_id, symbol=order.symbol))

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        raise FatalVenueError("modify not supported here")

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        step = self.lookup_script.popleft() if self.lookup_script else "ok"
        if step == "retry":
            raise RetryableVenueError("busy")
        return self.orders.get(client_order_id)

    async def open_orders(self) -> list[OrderStatusReport]:
        return [r for r in self.orders.values() if r.is_open]

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        return [f for f in self.fills if f.ts >= ts_ns]

    async def positions(self) -> list[PositionReport]:
        return [PositionReport(symbol=s, quantity=q) for s, q in self.positions_.items() if q]

    async def account(self) -> AccountReport:
        return AccountReport(account_id="A", currency="USD", balance=Decimal(0),
                             equity=Decimal(0))
