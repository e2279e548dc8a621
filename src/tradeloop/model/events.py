"""Events: immutable facts. Every outcome of a command comes back as one of these.

Events are frozen ``msgspec`` structs: immutable, cheap to create on the hot path (about ten
times cheaper than frozen dataclasses), and serialisable to JSON or MessagePack as they are for
the audit store and the API.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeloop.model.enums import LiquiditySide, OrderSide


class Event(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of all events; ``ts`` is when it happened, in UTC nanoseconds.

    Events are immutable values that refer to nothing that refers back to them, so the cycle
    collector does not track them (``gc=False``): a backtest keeps hundreds of thousands.
    """

    ts: int

    @property
    def kind(self) -> str:
        """The event's class name, e.g. ``OrderFilled``."""
        return type(self).__name__


class OrderEvent(Event, frozen=True, kw_only=True):
    """An event about one order, identified by its client order id."""

    client_order_id: str
    strategy_id: str = ""
    symbol: str = ""


class OrderDenied(OrderEvent, frozen=True, kw_only=True):
    """The risk gate refused the order before it reached a venue.

    ``code`` names the rule or condition that refused it (``DAILY_LOSS``, ``RISK_ERROR``...;
    empty for denials from outside the risk gate, such as an intent the audit database could
    not record); ``limit`` and ``value`` are the configured limit and the figure that broke it,
    as text (empty when the rule has no number to show).
    """

    reason: str
    code: str = ""
    limit: str = ""
    value: str = ""


class OrderSubmitted(OrderEvent, frozen=True, kw_only=True):
    """The order was sent to the venue."""


class OrderAccepted(OrderEvent, frozen=True, kw_only=True):
    """The venue accepted the order and it is working."""

    venue_order_id: str


class OrderRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue refused the order."""

    reason: str


class OrderPendingUpdate(OrderEvent, frozen=True, kw_only=True):
    """A modification was sent and awaits the venue's answer."""


class OrderPendingCancel(OrderEvent, frozen=True, kw_only=True):
    """A cancellation was sent and awaits the venue's answer."""


class OrderUpdated(OrderEvent, frozen=True, kw_only=True):
    """The venue applied a modification; ``None`` fields kept their value."""

    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


class OrderModifyRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue refused a modification; the order is as it was."""

    reason: str


class OrderCancelRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue refused a cancellation; the order is still working."""

    reason: str


class OrderTriggered(OrderEvent, frozen=True, kw_only=True):
    """A stop-limit order's trigger was hit and its limit order is working."""


class OrderCanceled(OrderEvent, frozen=True, kw_only=True):
    """The order was cancelled; ``reason`` says why when it was not asked for."""

    reason: str = ""


class OrderExpired(OrderEvent, frozen=True, kw_only=True):
    """The order's time in force ran out."""


class OrderFilled(OrderEvent, frozen=True, kw_only=True):
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


class PositionEvent(Event, frozen=True, kw_only=True):
    """A change of one position."""

    position_id: str
    symbol: str
    strategy_id: str
    quantity: Decimal
    avg_px: Decimal
    realized_pnl: Decimal
    currency: str


class PositionOpened(PositionEvent, frozen=True, kw_only=True):
    """A position went from flat to open."""


class PositionChanged(PositionEvent, frozen=True, kw_only=True):
    """An open position's quantity changed (or it flipped side)."""


class PositionClosed(PositionEvent, frozen=True, kw_only=True):
    """A position went flat."""


class AccountState(Event, frozen=True, kw_only=True):
    """A snapshot of an account."""

    account_id: str
    currency: str
    balance: Decimal
    equity: Decimal
    margin_used: Decimal
    extra: dict[str, str] = msgspec.field(default_factory=dict)


class TradingStateChanged(Event, frozen=True, kw_only=True):
    """The risk engine's trading state changed: ``ACTIVE``, ``REDUCING`` (only orders that
    reduce positions) or ``HALTED`` (only cancels).

    ``code`` is what caused it (``DAILY_LOSS``, ``DRAWDOWN``, ``KILL_SWITCH``, ``RESUMED``,
    ``NEW_TRADING_DAY``...), ``by`` who, when a person did (``tradeloop resume --by``).
    """

    state: str
    previous: str
    code: str
    reason: str
    by: str = ""
