"""Events: immutable facts. Every outcome of a command comes back as one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.model.enums import LiquiditySide, OrderSide


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events; ``ts`` is when it happened, in UTC nanoseconds."""

    ts: int

    @property
    def kind(self) -> str:
        """The event's class name, e.g. ``OrderFilled``."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent(Event):
    """An event about one order, identified by its client order id."""

    client_order_id: str
    strategy_id: str = ""
    symbol: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDenied(OrderEvent):
    """The risk gate refused the order before it reached a venue."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    """The order was sent to the venue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(OrderEvent):
    """The venue accepted the order and it is working."""

    venue_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    """The venue refused the order."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPendingUpdate(OrderEvent):
    """A modification was sent and awaits the venue's answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPendingCancel(OrderEvent):
    """A cancellation was sent and awaits the venue's answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(OrderEvent):
    """The venue applied a modification; ``None`` fields kept their value."""

    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderModifyRejected(OrderEvent):
    """The venue refused a modification; the order is as it was."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRejected(OrderEvent):
    """The venue refused a cancellation; the order is still working."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTriggered(OrderEvent):
    """A stop-limit order's trigger was hit and its limit order is working."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    """The order was cancelled; ``reason`` says why when it was not asked for."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderEvent):
    """The order's time in force ran out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(OrderEvent):
    """A (partial) execution.

    Attributes
    ----------
    trade_id : str
        The venue's id of this execution; a repeated trade id is ignored.
    side : OrderSide
    last_qty, last_px : Decimal
        Quantity and price of this execution.
    commission : Decimal
        Fee charged, in ``commission_currency``.
    """

    venue_order_id: str
    trade_id: str
    side: OrderSide
    last_qty: Decimal
    last_px: Decimal
    commission: Decimal = Decimal(0)
    commission_currency: str = ""
    liquidity: LiquiditySide = LiquiditySide.TAKER
    position_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionEvent(Event):
    """A change of one position."""

    position_id: str
    symbol: str
    strategy_id: str
    quantity: Decimal
    avg_px: Decimal
    realized_pnl: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionOpened(PositionEvent):
    """A position went from flat to open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChanged(PositionEvent):
    """An open position's quantity changed (or it flipped side)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(PositionEvent):
    """A position went flat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState(Event):
    """A snapshot of an account."""

    account_id: str
    currency: str
    balance: Decimal
    equity: Decimal
    margin_used: Decimal
    extra: dict[str, str] = field(default_factory=dict)
