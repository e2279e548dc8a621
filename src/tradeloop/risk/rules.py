"""Pre-trade rules on the order itself and on the account's positions: instrument precision,
reduce-only, buying power.

Each rule is one small class (see :class:`~tradeloop.risk.base.Rule`); the gate runs them in
order and the first denial wins.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tradeloop.model.enums import OrderSide
from tradeloop.model.orders import Order
from tradeloop.risk.base import ZERO, Denial, DenialCode, RiskContext, Rule, fmt

# enum members read on the hot path, bound once (docs/decisions/0011)
_SELL: Final = OrderSide.SELL


class InstrumentPrecision(Rule):
    """Deny orders for unknown instruments, below the minimum quantity, or off the tick or lot
    grid."""

    code = DenialCode.PRECISION

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        instrument = ctx.instrument(order.symbol)
        if instrument is None:
            return Denial(DenialCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol}")
        if order.quantity % instrument.lot_step != ZERO:
            return Denial(self.code, f"quantity {order.quantity} is not a multiple of the lot "
                          f"step {instrument.lot_step}", fmt(instrument.lot_step),
                          fmt(order.quantity))
        if order.quantity < instrument.min_quantity:
            return Denial(DenialCode.QUANTITY, f"quantity {order.quantity} is below the "
                          f"instrument's minimum {instrument.min_quantity}",
                          fmt(instrument.min_quantity), fmt(order.quantity))
        if order.price is not None or order.trigger_price is not None:
            for name in ("price", "trigger_price"):
                price = getattr(order, name)
                if price is not None and not instrument.is_price_on_tick(price):
                    return Denial(self.code, f"{name.replace('_', ' ')} {price} is not on the "
                                  f"tick {instrument.tick_size}", fmt(instrument.tick_size),
                                  fmt(price))
        return None


class ReduceOnly(Rule):
    """Deny a reduce-only order that would open or add to a position."""

    code = DenialCode.REDUCE_ONLY

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if not order.reduce_only or order.parent_id is not None:
            return None  # bracket legs are checked when their parent has filled
        net = ctx.net_quantity(order.symbol)
        if net == ZERO or (net > ZERO) == (order.signed_quantity > ZERO):
            return Denial(self.code, "reduce-only order would open or increase a position",
                          value=fmt(net))
        return None


class BuyingPower(Rule):
    """Deny orders the account cannot pay for.

    The part of an order that opens or adds exposure, valued at its limit or trigger price (the
    last price for market orders) and added to the exposure of other working opening orders,
    must fit in the account's buying power, plus what the order's closing part frees. A cash
    account may not sell what it does not hold (working sells included).
    """

    code = DenialCode.BUYING_POWER

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if order.reduce_only or order.symbol not in ctx.cache.instruments:
            return None
        account = ctx.account
        signed = order.signed_quantity
        if account.cash_account:
            net = ctx.net_quantity(order.symbol)
            selling = sum(
                (o.leaves_qty for o in ctx.cache.open_orders(order.symbol)
                 if o is not order and o.side is _SELL),
                ZERO,
            )
            if net - selling + signed < ZERO:
                return Denial(self.code, f"a cash account cannot sell short ({order.symbol} "
                              f"held: {net}, already selling: {selling})", fmt(net - selling),
                              fmt(order.quantity))
        opening = ctx.opening_quantity(order)
        if opening == ZERO:
            return None
        unit = ctx.notional(order, _ONE)
        if unit is None:
            return None  # no price to value it yet
        needed = opening * unit
        size = abs(signed)
        available = account.buying_power() - ctx.working_entries(order).value(ctx)
        if size != opening:  # the part that closes frees what it held
            available += (size - opening) * unit
        if needed > available:
            shown = max(available, ZERO)
            return Denial(self.code, f"insufficient buying power: {order.quantity} "
                          f"{order.symbol} needs {needed:,.2f}, {shown:,.2f} available",
                          _money(shown), _money(needed))
        return None


_ONE = Decimal(1)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"
