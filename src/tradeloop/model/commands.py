"""Commands: intents a strategy or an operator issues. Their outcomes come back as events."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeloop.model.orders import Order


class SubmitOrder(msgspec.Struct, frozen=True):
    """Send one order (which may carry contingent children) to its venue."""

    order: Order
    ts: int


class SubmitOrderList(msgspec.Struct, frozen=True):
    """Send linked orders together: a bracket, an OCO pair or an OTO chain."""

    orders: tuple[Order, ...]
    ts: int


class CancelOrder(msgspec.Struct, frozen=True):
    """Cancel a working order."""

    client_order_id: str
    ts: int


class ModifyOrder(msgspec.Struct, frozen=True):
    """Change a working order's quantity, price or trigger price (``None`` keeps it)."""

    client_order_id: str
    ts: int
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


Command = SubmitOrder | SubmitOrderList | CancelOrder | ModifyOrder
