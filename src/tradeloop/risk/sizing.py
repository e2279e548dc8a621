"""The largest order the size rules allow, so position sizing can respect them.

A sizing helper (risk per trade over a stop distance, or over an ATR multiple) gives a wanted
quantity; :func:`max_quantity` gives the most the configured rules on size (order quantity and
notional, position, gross and net exposure, leverage, buying power) would let through for the
same strategy, symbol and side, rounded down to the lot step. The sized order is the smaller of
the two. It asks the rules themselves, by bisection over lot multiples, so every size rule is
honoured exactly as the gate will judge the order, including ones added later. A size denial
counts as "too large" when its value is above its limit (a quantity below a minimum is the
caller's to round up, not a cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order
from tradeloop.risk.base import ZERO, Denial, DenialCode, RiskContext, Rule

#: Denials that grow with an order's size (the rules sizing must respect).
SIZE_CODES = frozenset({
    DenialCode.QUANTITY, DenialCode.NOTIONAL, DenialCode.POSITION,
    DenialCode.GROSS_EXPOSURE, DenialCode.NET_EXPOSURE, DenialCode.LEVERAGE,
    DenialCode.BUYING_POWER,
})
_MAX_DOUBLINGS = 80


def max_quantity(
    rules: Sequence[Rule], ctx: RiskContext, strategy_id: str, symbol: str, side: OrderSide,
    price: Decimal | None = None, upper: Decimal | None = None,
) -> Decimal:
    """The largest quantity (a multiple of the lot step) of a new order the size rules allow.

    Parameters
    ----------
    rules : sequence of Rule
        The gate's rules (``RiskEngine.rules``); only their size denials count.
    ctx : RiskContext
    strategy_id, symbol : str
        Who would send the order, and for what.
    side : OrderSide
    price : Decimal, optional
        The limit price it would carry; a market order (the last price) when None.
    upper : Decimal, optional
        No need to look above this quantity (the size the caller wants).

    Returns
    -------
    Decimal
        Zero when not even one lot fits, or the symbol is unknown.
    """
    ctx.reset()
    instrument = ctx.instrument(symbol)
    if instrument is None:
        return ZERO
    step = instrument.lot_step
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    now = ctx.now_ns()

    def fits(lots: int) -> bool:
        if lots == 0:
            return True
        probe = Order(client_order_id="size-probe", strategy_id=strategy_id, symbol=symbol,
                      side=side, order_type=kind, quantity=step * lots, ts_init=now,
                      price=price)
        for rule in rules:
            if not rule.applies(probe, ctx):
                continue
            denial = rule.check(probe, ctx)
            if denial is not None and _too_big(denial):
                return False
        return True

    if upper is not None:
        hi = int(upper // step)
        if fits(hi):
            return step * hi
    else:
        hi = 1
        for _ in range(_MAX_DOUBLINGS):
            if not fits(hi):
                break
            hi *= 2
        else:
            return step * hi  # no size rule binds
    lo = 0  # fits(lo) holds, fits(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return step * lo


def _too_big(denial: Denial) -> bool:
    """A size denial because the order is too large (not below a minimum): its value is above
    its limit. One whose figures cannot be compared counts as too large."""
    if denial.code not in SIZE_CODES:
        return False
    try:
        return Decimal(denial.value.replace(",", "")) > Decimal(denial.limit.replace(",", ""))
    except ArithmeticError:
        return True
