"""The equity curve rebuilt from the fill book, vectorised.

Between fills, equity moves only with prices, so a backtest need not value the portfolio at
every bar: it records the book after each fill (:class:`BookEntry`) and this module marks those
step functions to every bar's close at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from tradeloop.portfolio.portfolio import BookEntry

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def equity_curve(
    timeline: IntArray,
    start_balance: float,
    book: Sequence[BookEntry],
    marks: Mapping[str, FloatArray],
    multipliers: Mapping[str, float],
    to_account: Mapping[str, FloatArray],
) -> FloatArray:
    """Equity at each time of ``timeline``: balance plus unrealised PnL of open positions.

    Parameters
    ----------
    timeline : ndarray of int64
        Sorted times at which to value the account (bar times).
    start_balance : float
        Balance before the first fill.
    book : sequence of BookEntry
        The position and balance after each fill, in time order.
    marks : mapping of symbol to ndarray
        Each symbol's latest close at every timeline time (NaN before its first bar).
    multipliers : mapping of symbol to float
    to_account : mapping of symbol to ndarray
        Account currency per unit of the symbol's quote currency at every timeline time.

    Returns
    -------
    ndarray of float64
    """
    n = timeline.shape[0]
    if not book:
        return np.full(n, start_balance)
    entry_ts = np.fromiter((e.ts for e in book), dtype=np.int64, count=len(book))
    balances = np.fromiter((e.balance for e in book), dtype=np.float64, count=len(book))
    last = np.searchsorted(entry_ts, timeline, side="right") - 1
    equity = np.where(last >= 0, balances[np.maximum(last, 0)], start_balance)
    by_position: dict[str, list[int]] = {}
    for k, entry in enumerate(book):
        by_position.setdefault(entry.position_id, []).append(k)
    for rows in by_position.values():
        symbol = book[rows[0]].symbol
        ts = entry_ts[rows]
        qty = np.fromiter((book[k].quantity for k in rows), dtype=np.float64, count=len(rows))
        avg = np.fromiter((book[k].avg_px for k in rows), dtype=np.float64, count=len(rows))
        idx = np.searchsorted(ts, timeline, side="right") - 1
        held = idx >= 0
        q = np.where(held, qty[np.maximum(idx, 0)], 0.0)
        a = np.where(held, avg[np.maximum(idx, 0)], 0.0)
        open_ = q != 0
        pnl = np.zeros(n)
        mark = marks[symbol]
        pnl[open_] = (
            (mark[open_] - a[open_]) * q[open_] * multipliers[symbol] * to_account[symbol][open_]
        )
        equity = equity + np.nan_to_num(pnl)
    return np.asarray(equity, dtype=np.float64)


def in_market(timeline: IntArray, book: Sequence[BookEntry]) -> npt.NDArray[np.bool_]:
    """True at each timeline time when any position is open."""
    n = timeline.shape[0]
    result = np.zeros(n, dtype=bool)
    by_position: dict[str, list[BookEntry]] = {}
    for entry in book:
        by_position.setdefault(entry.position_id, []).append(entry)
    for entries in by_position.values():
        ts = np.fromiter((e.ts for e in entries), dtype=np.int64, count=len(entries))
        qty = np.fromiter((e.quantity for e in entries), dtype=np.float64, count=len(entries))
        idx = np.searchsorted(ts, timeline, side="right") - 1
        result |= (idx >= 0) & (qty[np.maximum(idx, 0)] != 0)
    return result
