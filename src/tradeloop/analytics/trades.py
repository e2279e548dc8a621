"""Round-trip trades from fills, matched first in, first out within each position.

Each opening fill starts a trade. A closing fill closes the oldest open trades first; a trade
closed in part is split into a closed trade and an open remainder, so every row has one
quantity, one entry price and at most one exit price (averaged over the closing fills of that
quantity). Trades still open at the end have no exit and carry their unrealised PnL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instrument import to_decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip (or an open trade when ``exit_ts`` is None).

    PnL figures are in the account currency and net of the commissions on both legs.
    """

    symbol: str
    strategy_id: str
    side: OrderSide
    quantity: Decimal
    entry_ts: int
    entry_price: Decimal
    exit_ts: int | None
    exit_price: Decimal | None
    gross_pnl: float
    commission: float
    pnl: float
    return_pct: float
    entry_order_id: str
    exit_order_id: str | None

    @property
    def is_open(self) -> bool:
        """True while the trade has no exit."""
        return self.exit_ts is None


@dataclass(slots=True)
class _Lot:
    fill: OrderFilled
    quantity: Decimal
    commission: Decimal  # the entry commission still attributed to ``quantity``


RateAt = Callable[[str, int], float]  # (symbol, ts) -> account currency per quote currency


def round_trips(
    fills: Iterable[OrderFilled],
    multipliers: dict[str, Decimal],
    rate_at: RateAt,
    marks: dict[str, float],
    end_ts: int,
    position_key: Callable[[OrderFilled], str],
) -> list[Trade]:
    """Match fills into trades.

    Parameters
    ----------
    fills : iterable of OrderFilled
        In the order they happened.
    multipliers : dict
        Contract multiplier per symbol.
    rate_at : callable
        Account currency per unit of a symbol's quote currency at a time.
    marks : dict
        Last price per symbol, to value open trades.
    end_ts : int
        Time at which open trades are valued.
    position_key : callable
        The position a fill belongs to (netting or hedging).

    Returns
    -------
    list of Trade
        Closed trades in the order they closed, then open trades in the order they opened.
    """
    lots: dict[str, deque[_Lot]] = {}
    closed: list[Trade] = []
    for fill in fills:
        queue = lots.setdefault(position_key(fill), deque())
        remaining = fill.last_qty
        exit_fee_per_unit = fill.commission / fill.last_qty
        while remaining > 0 and queue and queue[0].fill.side is not fill.side:
            lot = queue[0]
            take = min(remaining, lot.quantity)
            entry_fee = lot.commission * take / lot.quantity
            closed.append(_trade(
                lot.fill, take, entry_fee, fill, exit_fee_per_unit * take,
                multipliers[fill.symbol], rate_at(fill.symbol, fill.ts),
            ))
            lot.quantity -= take
            lot.commission -= entry_fee
            remaining -= take
            if lot.quantity == 0:
                queue.popleft()
        if remaining > 0:
            queue.append(_Lot(fill, remaining, fill.commission * remaining / fill.last_qty))
    still_open = sorted(
        (lot for queue in lots.values() for lot in queue), key=lambda lot: lot.fill.ts
    )
    for lot in still_open:
        symbol = lot.fill.symbol
        mark = to_decimal(marks[symbol])
        closed.append(_trade(
            lot.fill, lot.quantity, lot.commission, None, ZERO, multipliers[symbol],
            rate_at(symbol, end_ts), mark,
        ))
    return closed


def _trade(
    entry: OrderFilled, qty: Decimal, entry_fee: Decimal, exit_fill: OrderFilled | None,
    exit_fee: Decimal, multiplier: Decimal, rate: float, mark: Decimal | None = None,
) -> Trade:
    exit_px = exit_fill.last_px if exit_fill is not None else mark
    assert exit_px is not None
    direction = 1 if entry.side is OrderSide.BUY else -1
    gross_quote = (exit_px - entry.last_px) * qty * multiplier * direction
    gross = float(gross_quote) * rate
    fees = float(entry_fee + exit_fee) * rate
    cost = float(entry.last_px * qty * multiplier) * rate
    pnl = gross - fees
    return Trade(
        symbol=entry.symbol, strategy_id=entry.strategy_id, side=entry.side, quantity=qty,
        entry_ts=entry.ts, entry_price=entry.last_px,
        exit_ts=exit_fill.ts if exit_fill is not None else None,
        exit_price=exit_fill.last_px if exit_fill is not None else None,
        gross_pnl=gross, commission=fees, pnl=pnl,
        return_pct=100.0 * pnl / cost if cost else 0.0,
        entry_order_id=entry.client_order_id,
        exit_order_id=exit_fill.client_order_id if exit_fill is not None else None,
    )
