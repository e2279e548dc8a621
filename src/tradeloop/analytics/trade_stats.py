"""Statistics of round-trip trades and of time in the market.

See :mod:`tradeloop.analytics.metrics` for the conventions: ``nan`` when a statistic is
undefined, ``inf`` for a profit factor without losses.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import (
    NAN,
    BoolArray,
    FloatArray,
    as_bool_1d,
    as_float_1d,
)


def as_trade_pnls(trade_pnls: npt.ArrayLike) -> FloatArray:
    """Check and convert round-trip PnLs to a finite one-dimensional float64 array."""
    values = as_float_1d(trade_pnls, "trade_pnls")
    if not np.all(np.isfinite(values)):
        raise ValueError("trade_pnls must be finite")
    return values


def _mean_or_nan(values: FloatArray) -> float:
    return float(np.mean(values)) if values.size else NAN


def _fraction_true(flags: BoolArray) -> float:
    return int(np.count_nonzero(flags)) / flags.size if flags.size else NAN


def win_rate(trade_pnls: npt.ArrayLike) -> float:
    """Fraction of round trips with a positive net PnL.

    .. math:: \\mathrm{WR} = \\frac{\\#\\{i : p_i > 0\\}}{N}

    Parameters
    ----------
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip (after costs); must be finite.

    Returns
    -------
    float
        ``WR`` in [0, 1]; ``nan`` with no trades. Break-even trades count as non-wins.
    """
    return _fraction_true(as_trade_pnls(trade_pnls) > 0.0)


def profit_factor(trade_pnls: npt.ArrayLike) -> float:
    """Gross profit over gross loss.

    .. math:: \\mathrm{PF} = \\frac{\\sum_{p_i > 0} p_i}{-\\sum_{p_i < 0} p_i}

    Parameters
    ----------
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``PF >= 0``; ``inf`` with profits and no losses; ``nan`` with no trades or with
        neither profits nor losses.
    """
    pnls = as_trade_pnls(trade_pnls)
    gross_profit = float(pnls[pnls > 0.0].sum())
    gross_loss = -float(pnls[pnls < 0.0].sum())
    if gross_loss > 0.0:
        return gross_profit / gross_loss
    return math.inf if gross_profit > 0.0 else NAN


def expectancy(trade_pnls: npt.ArrayLike) -> float:
    """Mean net PnL per round trip.

    .. math:: \\mathbb{E} = \\frac{1}{N} \\sum_i p_i

    Parameters
    ----------
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        The mean, in account currency; ``nan`` with no trades.
    """
    return _mean_or_nan(as_trade_pnls(trade_pnls))


def average_win(trade_pnls: npt.ArrayLike) -> float:
    """Mean PnL of the winning round trips.

    .. math:: \\bar W = \\operatorname{mean}\\{p_i : p_i > 0\\}

    Parameters
    ----------
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``W > 0``; ``nan`` without a winning trade.
    """
    pnls = as_trade_pnls(trade_pnls)
    return _mean_or_nan(pnls[pnls > 0.0])


def average_loss(trade_pnls: npt.ArrayLike) -> float:
    """Mean PnL of the losing round trips (a negative number).

    .. math:: \\bar L = \\operatorname{mean}\\{p_i : p_i < 0\\}

    Parameters
    ----------
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``L < 0``; ``nan`` without a losing trade.
    """
    pnls = as_trade_pnls(trade_pnls)
    return _mean_or_nan(pnls[pnls < 0.0])


def exposure_time(in_market: npt.ArrayLike) -> float:
    """Fraction of bars with an open position.

    .. math:: X = \\frac{\\#\\{t : \\text{in\\_market}_t\\}}{n}

    Parameters
    ----------
    in_market : array_like of bool, shape (n,)
        Whether a position was open during each bar.

    Returns
    -------
    float
        ``X`` in [0, 1]; ``nan`` with no bars.
    """
    return _fraction_true(as_bool_1d(in_market, "in_market"))
