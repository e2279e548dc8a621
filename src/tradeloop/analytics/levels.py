"""The stop-loss and take-profit levels that guarded each trade, for charts and reports.

A level is the price of a protective order working while the trade was open: a child of the
entry order (a bracket's stop and target), or an exit order on the other side placed while the
trade was open (a reduce-only stop, a limit to take profit). Stops are STOP, STOP_LIMIT and
TRAILING_STOP orders at their trigger price; targets are LIMIT and MARKET_IF_TOUCHED orders at
their limit or trigger price. Each level lasts from when its order was placed (never before the
entry) until the order closed or the trade ended, whichever came first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from tradeloop.analytics.trades import Trade
from tradeloop.model.enums import OrderType
from tradeloop.model.orders import Order

_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
_TARGETS = frozenset({OrderType.LIMIT, OrderType.MARKET_IF_TOUCHED})


@dataclass(frozen=True)
class PriceLevel:
    """One stop or target line of a trade.

    Attributes
    ----------
    kind : {"stop", "target"}
    price : Decimal
    start_ts, end_ts : int
        When the level applied, UTC nanoseconds.
    client_order_id : str
        The order that held it.
    entry_order_id : str
        The entry order of the trade it protected.
    """

    kind: Literal["stop", "target"]
    price: Decimal
    start_ts: int
    end_ts: int
    client_order_id: str
    entry_order_id: str


def trade_levels(trades: Iterable[Trade], orders: Sequence[Order],
                 end_ts: int) -> list[PriceLevel]:
    """The stop and target levels of ``trades``, from the run's ``orders``.

    Parameters
    ----------
    trades : iterable of Trade
    orders : sequence of Order
        Every order of the run.
    end_ts : int
        When the run ended: the end of the levels of trades still open.

    Returns
    -------
    list of PriceLevel
        In the order of the trades, then of the orders.
    """
    by_parent: dict[str, list[Order]] = {}
    loose: dict[str, list[Order]] = {}  # symbol -> exit orders not tied to an entry
    for order in orders:
        if order.order_type not in _STOPS and order.order_type not in _TARGETS:
            continue
        if order.parent_id is not None:
            by_parent.setdefault(order.parent_id, []).append(order)
        else:
            loose.setdefault(order.symbol, []).append(order)
    levels: list[PriceLevel] = []
    for trade in trades:
        trade_end = trade.exit_ts if trade.exit_ts is not None else end_ts
        candidates = list(by_parent.get(trade.entry_order_id, ()))
        candidates += [o for o in loose.get(trade.symbol, ())
                       if o.side is not trade.side and trade.entry_ts <= o.ts_init <= trade_end]
        for order in candidates:
            level = _level(order, trade, trade_end)
            if level is not None:
                levels.append(level)
    return levels


def _level(order: Order, trade: Trade, trade_end: int) -> PriceLevel | None:
    if order.order_type in _STOPS:
        kind: Literal["stop", "target"] = "stop"
        price = order.trigger_price or order.price
    else:
        kind = "target"
        price = order.price or order.trigger_price
    if price is None:
        return None
    start = max(order.ts_init, trade.entry_ts)
    end = min(order.ts_last, trade_end) if order.is_closed and order.ts_last else trade_end
    if end < start:
        return None
    return PriceLevel(kind, price, start, end, order.client_order_id, trade.entry_order_id)
