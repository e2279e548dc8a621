"""The equity curve rebuilt from the fill book, vectorised.

Between fills, equity moves only with prices, so a backtest need not value the portfolio at
every bar: it records the book after each fill (:class:`BookEntry`) and this module marks those
step functions to every bar's close at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

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

    Each position is valued only over the times it can be open (from its first fill to the
    fill that leaves it flat for good), so the work grows with the bars and the fills, not with
    their product: an account that hedges opens a position per order.

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
    # with the start balance in front, the balance after the last entry at or before each time
    equity = np.concatenate(([start_balance], balances))[_entries_up_to(entry_ts, timeline)]
    for rows, qty, lo, hi, last in _position_spans(book, entry_ts, timeline):
        symbol = book[rows[0]].symbol
        avg = np.fromiter((book[k].avg_px for k in rows), dtype=np.float64, count=len(rows))
        q = qty[last]
        # (mark - avg) * qty * multiplier * rate, in place: the curve's arrays are a bar long
        pnl = marks[symbol][lo:hi] - avg[last]
        pnl *= q
        pnl *= multipliers[symbol]
        pnl *= to_account[symbol][lo:hi]
        np.nan_to_num(pnl, copy=False)
        pnl[q == 0] = 0.0
        equity[lo:hi] += pnl
    return np.asarray(equity, dtype=np.float64)


def in_market(timeline: IntArray, book: Sequence[BookEntry]) -> npt.NDArray[np.bool_]:
    """True at each timeline time when any position is open."""
    result = np.zeros(timeline.shape[0], dtype=bool)
    if not book:
        return result
    entry_ts = np.fromiter((e.ts for e in book), dtype=np.int64, count=len(book))
    for _, qty, lo, hi, last in _position_spans(book, entry_ts, timeline):
        result[lo:hi] |= qty[last] != 0
    return result


def _position_spans(
    book: Sequence[BookEntry], entry_ts: IntArray, timeline: IntArray
) -> Iterator[tuple[list[int], FloatArray, int, int, IntArray]]:
    """For each position that is open at some timeline time: its rows in ``book``, its
    quantity after each of them, the slice ``lo:hi`` of ``timeline`` over which it can be open
    (from its first entry to the one that leaves it flat for good, else to the end), and for
    each time in that slice the index of its last entry at or before it."""
    by_position: dict[str, list[int]] = {}
    for k, entry in enumerate(book):
        by_position.setdefault(entry.position_id, []).append(k)
    for rows in by_position.values():
        ts = entry_ts[rows]
        qty = np.fromiter((book[k].quantity for k in rows), dtype=np.float64, count=len(rows))
        lo = int(np.searchsorted(timeline, ts[0], side="left"))
        hi = (timeline.shape[0] if qty[-1] != 0
              else int(np.searchsorted(timeline, ts[-1], side="left")))
        if lo < hi:
            last = _entries_up_to(ts, timeline[lo:hi])
            last -= 1  # there is an entry at or before every time from ``lo`` on
            yield rows, qty, lo, hi, last


def _entries_up_to(entry_ts: IntArray, times: IntArray) -> IntArray:
    """For each of the sorted ``times``, how many of the sorted ``entry_ts`` are at or before
    it: one binary search per entry rather than per time."""
    starts = np.searchsorted(times, entry_ts, side="left")  # the first time each entry applies
    counts = np.bincount(starts, minlength=times.shape[0] + 1)[: times.shape[0]]
    return np.cumsum(counts, out=counts)
