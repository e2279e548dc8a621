"""Where in a bar an order fills: the intrabar path and the first touch of a price level.

The simulated venue does not know the order in which a bar visited its high and low, so it
assumes a path and documents it:

* a bar that closes at or above its open went open -> low -> high -> close;
* a bar that closes below its open went open -> high -> low -> close.

The path is a polyline through those four points. A position on it is a number ``t`` from 0 (the
open) to 3 (the close). An order whose price is already reached at the open (a gap) fills at the
open; otherwise it fills at its own price at the first ``t`` where the path reaches it. A quote
or trade tick is a path of one point.
"""

from __future__ import annotations

from collections.abc import Sequence

Path = Sequence[float]
Touch = tuple[float, float]  # (t, price)


def bar_path(open_: float, high: float, low: float, close: float) -> tuple[float, ...]:
    """The assumed intrabar path of a bar."""
    if close >= open_:
        return (open_, low, high, close)
    return (open_, high, low, close)


def price_at(path: Path, t: float) -> float:
    """The price at position ``t`` on the path."""
    k = min(int(t), len(path) - 2) if len(path) > 1 else 0
    if len(path) == 1:
        return path[0]
    frac = t - k
    return path[k] + (path[k + 1] - path[k]) * frac


def first_at_or_above(path: Path, level: float, start: float = 0.0) -> Touch | None:
    """First ``(t, price)`` from ``start`` on where the price is >= ``level``.

    If the price at ``start`` is already there the order fills at that price (a gap); otherwise
    it fills at ``level`` where the path crosses it.
    """
    here = price_at(path, start)
    if here >= level:
        return start, here
    k = int(start)
    for seg in range(k, len(path) - 1):
        a = here if seg == k else path[seg]
        b = path[seg + 1]
        if b >= level > a:
            seg_start = start if seg == k else float(seg)
            span = b - path[seg] if b != path[seg] else 1.0
            t = seg + (level - path[seg]) / span
            return max(t, seg_start), level
    return None


def first_at_or_below(path: Path, level: float, start: float = 0.0) -> Touch | None:
    """First ``(t, price)`` from ``start`` on where the price is <= ``level``."""
    mirrored = [-p for p in path]
    touch = first_at_or_above(mirrored, -level, start)
    return None if touch is None else (touch[0], -touch[1])


def trailing_walk(
    path: Path, start: float, ref: float, offset: float, percent: bool, sell: bool
) -> tuple[Touch | None, float]:
    """Walk a trailing stop along the path.

    Parameters
    ----------
    path : sequence of float
    start : float
        Where on the path the order becomes active.
    ref : float
        The best price seen so far (highest for a sell stop, lowest for a buy stop).
    offset : float
        Distance of the stop from ``ref``: a price, or a percentage when ``percent``.
    percent : bool
    sell : bool
        True for a sell stop that trails below the market.

    Returns
    -------
    (touch, ref)
        ``touch`` is ``(t, price)`` of the fill or None; ``ref`` is the updated best price.
    """

    def stop_of(best: float) -> float:
        distance = best * offset / 100.0 if percent else offset
        return best - distance if sell else best + distance

    here = price_at(path, start)
    points = [(start, here)] + [(float(i), path[i]) for i in range(int(start) + 1, len(path))]
    prev_t, prev_p = points[0]
    stop = stop_of(ref)
    if (sell and prev_p <= stop) or (not sell and prev_p >= stop):
        return (prev_t, prev_p), ref
    ref = max(ref, prev_p) if sell else min(ref, prev_p)  # a favourable gap moves the stop too
    stop = stop_of(ref)
    for t, p in points[1:]:
        favourable = p > prev_p if sell else p < prev_p
        if favourable:
            ref = max(ref, p) if sell else min(ref, p)
            stop = stop_of(ref)
        elif (sell and p <= stop) or (not sell and p >= stop):
            span = p - prev_p
            frac = (stop - prev_p) / span if span else 0.0
            return (prev_t + (t - prev_t) * frac, stop), ref
        prev_t, prev_p = t, p
    return None, ref
