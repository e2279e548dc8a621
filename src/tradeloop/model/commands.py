"""Commands: intents a strategy or an operator issues. Their outcomes come back as events."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeloop.model.orders import Order


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Send one order (which may carry contingent children) to its venue."""

    order: Order
    ts: int


@dataclass(frozen=True, slots=True)
class SubmitOrderList:
    """Send linked orders together: a bracket, an OCO pair or an OTO chain."""

    orders: tuple[Order, ...]
    ts: int


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel a working order."""

    client_order_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Change a working order's quantity, price or trigger price (``None`` keeps it)."""

    client_order_id: str
    ts: int
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


Command = SubmitOrder | SubmitOrderList | CancelOrder | ModifyOrder
