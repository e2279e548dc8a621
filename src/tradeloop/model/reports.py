"""What a venue says about its own state, in our terms: the reports that reconciliation compares
with the local cache and the audit database. Frozen ``msgspec`` structs, so they cross the paper
venue's wire protocol and the audit store as they are (``Decimal`` travels as a string). They
hold values only, so the cycle collector does not track them (``gc=False``): an adapter keeps
every fill it was told of."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce


class OrderStatusReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One order as the venue knows it.

    Attributes
    ----------
    client_order_id : str
        Our id, echoed by the venue (or recovered from a tag for venues without one).
    venue_order_id : str
    symbol : str
    side : OrderSide
    order_type : OrderType
    quantity : Decimal
    filled_qty : Decimal
    avg_px : Decimal or None
    status : OrderStatus
        ACCEPTED, PARTIALLY_FILLED, TRIGGERED, FILLED, CANCELED, EXPIRED or REJECTED.
    price, trigger_price : Decimal or None
    time_in_force : TimeInForce
    reason : str
        Why it was rejected, cancelled or expired, when the venue says.
    ts_accepted, ts_last : int
        UTC nanoseconds.
    """

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    filled_qty: Decimal = Decimal(0)
    avg_px: Decimal | None = None
    status: OrderStatus = OrderStatus.ACCEPTED
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reason: str = ""
    ts_accepted: int = 0
    ts_last: int = 0

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in _OPEN


_OPEN = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGERED,
                   OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL})


class FillReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One execution as the venue booked it; ``trade_id`` is unique per venue."""

    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal = Decimal(0)
    commission_currency: str = ""
    liquidity: LiquiditySide = LiquiditySide.TAKER
    ts: int = 0


class PositionReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The venue's net position in one instrument: ``quantity`` is signed (short < 0)."""

    symbol: str
    quantity: Decimal
    avg_px: Decimal | None = None
    ts: int = 0


class AccountReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Balances as the venue reports them, in ``currency``; a US broker may add what it
    counts for FINRA's pattern day trader rule, and a margin broker the account's leverage
    (None: it does not say)."""

    account_id: str
    currency: str
    balance: Decimal
    equity: Decimal
    margin_used: Decimal = Decimal(0)
    ts: int = 0
    pattern_day_trader: bool | None = None
    day_trade_count: int | None = None
    leverage: Decimal | None = None


__all__ = ["AccountReport", "FillReport", "OrderStatusReport", "PositionReport"]
