"""Drawdowns: the curve below the running peak, its deepest point and its longest duration."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import (
    NAN,
    FloatArray,
    as_float_1d,
    as_int_1d,
    count_present,
    wealth_from_returns,
)


def drawdown_curve(equity: npt.ArrayLike) -> FloatArray:
    """Drawdown of each bar: the fraction of equity below its running peak.

    .. math:: D_t = \\frac{E_t - M_t}{M_t}, \\quad M_t = \\max_{s \\le t} E_s

    Parameters
    ----------
    equity : array_like of float, shape (n,)
        NaN values are skipped by the running peak.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``D_t <= 0``; -1 where equity is 0, below -1 where it is negative, ``nan`` where
        equity is NaN or the running peak is not positive.
    """
    values = as_float_1d(equity, "equity")
    peak = np.fmax.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = (values - peak) / peak
    curve[~(peak > 0.0)] = np.nan
    return curve


def max_drawdown(values: npt.ArrayLike, *, kind: Literal["equity", "returns"] = "equity") -> float:
    """Maximum drawdown, as a negative fraction (like empyrical).

    .. math:: \\mathrm{MDD} = \\min_t D_t

    with ``D_t`` from :func:`drawdown_curve`. For ``kind="returns"`` the curve is the wealth
    index ``W_0 = 100``, ``W_t = W_0 \\prod_{s \\le t} (1 + r_s)`` (NaN returns count as 0),
    so the starting capital is a peak, exactly as in ``empyrical.max_drawdown``.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        An equity curve, or simple returns when ``kind="returns"``.
    kind : {"equity", "returns"}, default "equity"
        What ``values`` holds.

    Returns
    -------
    float
        ``MDD <= 0``; 0 for a single equity bar, ``nan`` for empty input or when no drawdown
        is defined.
    """
    array = as_float_1d(values, "values")
    if kind == "returns":
        if array.size == 0:
            return NAN
        curve = drawdown_curve(wealth_from_returns(array))
    elif kind == "equity":
        curve = drawdown_curve(array)
    else:
        raise ValueError(f"kind must be 'equity' or 'returns', got {kind!r}")
    if count_present(curve) == 0:
        return NAN
    return float(np.nanmin(curve))


def max_drawdown_duration(ts_ns: npt.ArrayLike, equity: npt.ArrayLike) -> int:
    """Longest time spent below a previous peak, in nanoseconds.

    A drawdown starts at the last bar at the running peak (``E_t >= M_{t-1}``) before equity
    falls below it, and ends at the first later bar where equity is back at or above that
    peak, or at the last bar if it never is:

    .. math:: \\Delta = \\max_{\\text{drawdowns}} (t_{\\text{end}} - t_{\\text{peak}})

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Bar timestamps, UTC nanoseconds, non-decreasing.
    equity : array_like of float, shape (n,)
        Equity; NaN bars count as below the peak.

    Returns
    -------
    int
        ``Delta`` in nanoseconds; 0 when equity never falls below a previous peak.
    """
    ts = as_int_1d(ts_ns, "ts_ns")
    values = as_float_1d(equity, "equity")
    if ts.size != values.size:
        raise ValueError(f"ts_ns has {ts.size} bars but equity has {values.size}")
    if values.size == 0:
        return 0
    peak = np.fmax.accumulate(values)
    highs = np.flatnonzero(values >= peak)
    if highs.size == 0:
        return 0
    starts = highs[:-1]
    ends = highs[1:]
    underwater = ends - starts > 1
    longest = 0
    if np.any(underwater):
        longest = int(np.max(ts[ends[underwater]] - ts[starts[underwater]]))
    last_high = int(highs[-1])
    if last_high < values.size - 1:
        longest = max(longest, int(ts[-1]) - int(ts[last_high]))
    return longest
