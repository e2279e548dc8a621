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
    FloatArray,
    as_float_1d,
)


def as_trade_pnls(tradeas_trade_pnls: npt.ArrayLike) -> FloatArray:
    """Check and convert round-trip PnLs to a finite one-dimensional float64 array."""
    values = as_float_1d(tradeas_trade_pnls, "tradeas_trade_pnls")
    if not np.all(np.isfinite(values)):
        raise ValueError("tradeas_trade_pnls must be finite")
    return values


def win_rate(tradeas_trade_pnls: npt.ArrayLike) -> float:
    """Fraction of round trips with a positive net PnL.

    .. math:: \\mathrm{WR} = \\frac{\\#\\{i : p_i > 0\\}}{N}

    Parameters
    ----------
    tradeas_trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip (after costs); must be finite.

    Returns
    -------
    float
        ``WR`` in [0, 1]; ``nan`` with no trades. Break-even trades count as non-wins.
    """
    pnls = as_trade_pnls(tradeas_trade_pnls)
    if pnls.size == 0:
        return NAN
    return int(np.count_nonzero(pnls > 0.0)) / pnls.size


def profit_factor(tradeas_trade_pnls: npt.ArrayLike) -> float:
    """Gross profit over gross loss.

    .. math:: \\mathrm{PF} = \\frac{\\sum_{p_i > 0} p_i}{-\\sum_{p_i < 0} p_i}

    Parameters
    ----------
    tradeas_trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``PF >= 0``; ``inf`` with profits and no losses; ``nan`` with no trades or with
        neither profits nor losses.
    """
    pnls = as_trade_pnls(tradeas_trade_pnls)
    gross_profit = float(pnls[pnls > 0.0].sum())
    gross_loss = -float(pnls[pnls < 0.0].sum())
    if gross_loss > 0.0:
        return gross_profit / gross_loss
    return math.inf if gross_profit > 0.0 else NAN


def expectancy(tradeas_trade_pnls: npt.ArrayLike) -> float:
    """Mean net PnL per round trip.

    .. math:: \\mathbb{E} = \\frac{1}{N} \\sum_i p_i

    Parameters
    ----------
    tradeas_trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        The mean, in account currency; ``nan`` with no trades.
    """
    pnls = as_trade_pnls(tradeas_trade_pnls)
    if pnls.size == 0:
        return NAN
    return float(np.mean(pnls))


def average_win(tradeas_trade_pnls: npt.ArrayLike) -> float:
    """Mean PnL of the winning round trips.

    .. math:: \\bar W = \\operatorname{mean}\\{p_i : p_i > 0\\}

    Parameters
    ----------
    tradeas_trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``W > 0``; ``nan`` without a winning trade.
    """
    pnls = as_trade_pnls(tradeas_trade_pnls)
    wins = pnls[pnls > 0.0]
    return float(np.mean(wins)) if wins.size else NAN


def average_loss(tradeas_trade_pnls: npt.ArrayLike) -> float:
    """Mean PnL of the losing round trips (a negative number).

    .. math:: \\bar L = \\operatorname{mean}\\{p_i : p_i < 0\\}

    Parameters
    ----------
    tradeas_trade_pnls : array_like of float, shape (N,)
        Net PnL of each round trip; must be finite.

    Returns
    -------
    float
        ``L < 0``; ``nan`` without a losing trade.
    """
    pnls = as_trade_pnls(tradeas_trade_pnls)
    losses = pnls[pnls < 0.0]
    return float(np.mean(losses)) if losses.size else NAN


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
    flags = np.asarray(in_market, dtype=np.bool_)
    if flags.ndim != 1:
        raise ValueError(f"in_market must be one-dimensional, got shape {flags.shape}")
    if flags.size == 0:
        return NAN
    return int(np.count_nonzero(flags)) / flags.size
