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

    See Also
    --------
    equity_and_exposure : this curve and :func:`in_market` from one pass over the book.
    """
    return equity_and_exposure(timeline, start_balance, book, marks, multipliers, to_account)[0]


def in_market(timeline: IntArray, book: Sequence[BookEntry]) -> npt.NDArray[np.bool_]:
    """True at each timeline time when any position is open."""
    result = np.zeros(timeline.shape[0], dtype=bool)
    if not book:
        return result
    for _, qty, lo, hi, counts in _position_spans(book, _starts(timeline, book), len(result)):
        result[lo:hi] |= np.repeat(qty != 0, counts)
    return result


def equity_and_exposure(
    timeline: IntArray,
    start_balance: float,
    book: Sequence[BookEntry],
    marks: Mapping[str, FloatArray],
    multipliers: Mapping[str, float],
    to_account: Mapping[str, FloatArray],
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """:func:`equity_curve` and :func:`in_market` together, finding each position's span once.

    Parameters and the two results are those of the two functions.
    """
    n = timeline.shape[0]
    exposure = np.zeros(n, dtype=bool)
    if not book:
        return np.full(n, start_balance), exposure
    balances = np.empty(len(book) + 1)
    balances[0] = start_balance
    balances[1:] = np.fromiter((e.balance for e in book), dtype=np.float64, count=len(book))
    starts = _starts(timeline, book)
    # the start balance until the first entry's time, then each entry's until the next one's
    equity = np.repeat(balances, np.diff(starts, prepend=0, append=n))
    for rows, qty, lo, hi, counts in _position_spans(book, starts, n):
        symbol = book[rows[0]].symbol
        avg = np.fromiter((book[k].avg_px for k in rows), dtype=np.float64, count=len(rows))
        q = np.repeat(qty, counts)
        exposure[lo:hi] |= q != 0
        # (mark - avg) * qty * multiplier * rate, in place: the curve's arrays are a bar long.
        # Where the position is flat this is 0, or NaN before a first mark or rate (made 0).
        pnl = np.repeat(avg, counts)
        np.subtract(marks[symbol][lo:hi], pnl, out=pnl)  # one bar-long array fewer
        pnl *= q
        multiplier = multipliers[symbol]
        if multiplier != 1.0:
            pnl *= multiplier
        pnl *= to_account[symbol][lo:hi]
        missing = np.isnan(pnl)
        if missing.any():
            pnl[missing] = 0.0
        equity[lo:hi] += pnl
    return equity, exposure


def _starts(timeline: IntArray, book: Sequence[BookEntry]) -> IntArray:
    # for each entry, the first timeline time at or after it: where it starts to count. The
    # book is in time order; were an entry not, it would count from its predecessor's start.
    entry_ts = np.fromiter((e.ts for e in book), dtype=np.int64, count=len(book))
    starts = np.searchsorted(timeline, entry_ts, side="left")
    return np.maximum.accumulate(starts, out=starts)


def _position_spans(
    book: Sequence[BookEntry], starts: IntArray, n: int
) -> Iterator[tuple[Sequence[int], FloatArray, int, int, IntArray]]:
    """For each position that is open at some time of a timeline of ``n`` times: its rows in
    ``book``, its quantity after each of them, the slice ``lo:hi`` of the timeline over which it
    can be open (from its first entry to the one that leaves it flat for good, else to the
    end), and how many times of that slice each of its rows holds for (from its start to the
    next row's). ``starts`` holds where each entry starts to count (see ``_starts``)."""
    position_ids = [e.position_id for e in book]
    groups: Iterator[Sequence[int]]
    if position_ids.count(position_ids[0]) == len(position_ids):  # one position (netting)
        groups = iter((range(len(book)),))
    else:
        by_position: dict[str, list[int]] = {}
        for k, position_id in enumerate(position_ids):
            by_position.setdefault(position_id, []).append(k)
        groups = iter(by_position.values())
    for rows in groups:
        begins = starts[rows] if isinstance(rows, list) else starts
        qty = np.fromiter((book[k].quantity for k in rows), dtype=np.float64, count=len(rows))
        lo = int(begins[0])
        hi = n if qty[-1] != 0 else int(begins[-1])
        if lo < hi:
            # entries are in time order, so their starts are too, and none is past ``hi``
            yield rows, qty, lo, hi, np.diff(begins, append=hi)
