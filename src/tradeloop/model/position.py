"""Positions: quantity, average price, realised and unrealised PnL, commissions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from tradeloop.model.enums import OrderSide

# enum members read on the hot path, bound once (docs/decisions/0011)
_BUY: Final = OrderSide.BUY

ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_MINUS_ONE: Final = Decimal(-1)


def netting_position_id(symbol: str, strategy_id: str) -> str:
    """The id of a strategy's one position in ``symbol`` when the account nets positions."""
    return f"{symbol}-{strategy_id}"


@dataclass(slots=True, eq=False)
class Position:
    """A position in one instrument (netting), or one leg opened by one order (hedging).

    ``quantity`` is signed: positive long, negative short. PnL is in the instrument's quote
    currency; ``realized_pnl`` is before commissions, which are tracked separately.
    """

    position_id: str
    symbol: str
    strategy_id: str
    currency: str
    multiplier: Decimal = Decimal(1)
    quantity: Decimal = ZERO
    avg_px: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO
    ts_opened: int = 0
    ts_closed: int | None = None
    entry_side: OrderSide | None = None

    @property
    def is_flat(self) -> bool:
        """True when no quantity is held."""
        return self.quantity == ZERO

    @property
    def is_long(self) -> bool:
        """True when the quantity is positive."""
        return self.quantity > ZERO

    @property
    def is_short(self) -> bool:
        """True when the quantity is negative."""
        return self.quantity < ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """PnL of the open quantity at price ``mark``, in the quote currency."""
        return (mark - self.avg_px) * self.quantity * self.multiplier

    def market_value(self, mark: Decimal) -> Decimal:
        """Signed value of the open quantity at ``mark``."""
        return mark * self.quantity * self.multiplier

    def apply_fill(
        self, side: OrderSide, qty: Decimal, px: Decimal, commission: Decimal, ts: int
    ) -> Decimal:
        """Apply an execution and return the PnL it realised (before commission).

        A fill that crosses through zero closes the old side at ``px`` and opens the rest on the
        other side at ``px``.
        """
        if qty <= ZERO:
            raise ValueError(f"fill quantity must be positive, got {qty}")
        signed = qty if side is _BUY else -qty
        realized = ZERO
        if commission:
            self.commissions += commission
        if self.quantity == ZERO:
            self.ts_opened, self.ts_closed, self.entry_side = ts, None, side
            self.avg_px = px
            self.quantity = signed
        elif (self.quantity > ZERO) == (signed > ZERO):
            total = self.quantity + signed
            self.avg_px = (self.avg_px * self.quantity + px * signed) / total
            self.quantity = total
        else:
            closing = min(abs(signed), abs(self.quantity))
            direction = _ONE if self.quantity > ZERO else _MINUS_ONE
            realized = (px - self.avg_px) * closing * direction * self.multiplier
            remaining = self.quantity + signed
            if remaining == ZERO:
                self.quantity = ZERO
                self.ts_closed = ts
            elif (remaining > ZERO) == (self.quantity > ZERO):
                self.quantity = remaining
            else:
                self.quantity = remaining
                self.avg_px = px
                self.ts_opened, self.entry_side = ts, side
        if realized:
            self.realized_pnl += realized
        return realized
