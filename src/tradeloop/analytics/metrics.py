"""Performance metrics of a backtest or a live run.

Pure, vectorised functions on one-dimensional NumPy arrays (float64 for equity, returns and
PnLs, int64 UTC nanoseconds for timestamps). No pandas, no per-bar Python loops.

The return-based metrics follow the conventions of empyrical (``empyrical-reloaded``) so that
the same simple returns give the same numbers, to floating-point rounding:

* returns are simple returns, ``r_t = (E_t - E_{t-1}) / E_{t-1}``; the risk-free rate is 0;
* annualisation multiplies means by ``P`` (periods per year) and deviations by ``sqrt(P)``;
* standard deviations are sample deviations (``ddof=1``);
* ``NaN`` returns are skipped by means and deviations and count as 0 when compounding;
* ratios whose denominator is 0 follow IEEE arithmetic: ``+inf`` or ``-inf`` when the numerator
  is non-zero, ``nan`` when it is 0 as well (so a flat equity curve has Sharpe ``nan`` and a
  curve that rises by the same fraction every bar has Sharpe ``+inf``).

Edge cases
----------
Empty or single-bar input
    A metric that needs ``k`` returns is ``nan`` with fewer: CAGR needs 1 (2 bars), volatility,
    Sharpe and Sortino need 2 (3 bars). One bar has a total return of 0, a maximum drawdown of
    0 and a drawdown duration of 0. The observed periods per year needs 2 bars with distinct
    timestamps and is ``nan`` otherwise; every annualised metric is then ``nan`` too.
Constant equity
    Returns are all 0: total return, CAGR, volatility and maximum drawdown are 0; Sharpe,
    Sortino and Calmar are ``nan`` (0 / 0).
No drawdown
    Calmar is ``nan`` when the maximum drawdown is not negative, or when the ratio overflows.
Equity touching zero
    Equity should start positive; metrics that divide by the starting equity are ``nan``
    otherwise. A bar at 0 gives a return of -1, a drawdown of -1 (-100 %) and a CAGR of -1.
    Returns after that bar are ``0 / 0 = nan`` (skipped, as above) while equity stays at 0;
    equity that leaves 0 again gives an infinite return, and the return-based ratios are then
    meaningless (typically ``nan``). Equity below 0 gives drawdowns below -1 and a ``nan``
    CAGR and Calmar (a negative growth factor has no real root).
Trades
    With no trades, every trade statistic is ``nan`` and ``num_trades`` is 0. A trade with a
    PnL of exactly 0 is neither a win nor a loss but counts in ``win_rate``'s denominator.
    ``profit_factor`` is ``inf`` when there are profits and no losses, ``nan`` when there are
    neither. ``average_win`` / ``average_loss`` are ``nan`` without wins / losses.

JSON
----
:func:`compute_metrics` returns plain Python ``float`` values, but ``nan`` and ``±inf`` do
occur (see above) and are not valid JSON; callers serialise ``nan`` as ``null`` and infinities
as the strings ``"inf"`` / ``"-inf"``.

No function emits a NumPy floating-point warning for these cases.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import (
    NAN,
    FloatArray,
    as_float_1d,
    as_int_1d,
    count_present,
)
from tradeloop.analytics.drawdown import drawdown_curve, max_drawdown, max_drawdown_duration
from tradeloop.analytics.trade_stats import (
    as_trade_pnls,
    average_loss,
    average_win,
    expectancy,
    exposure_time,
    profit_factor,
    win_rate,
)
from tradeloop.core.time import NANOS_PER_DAY

__all__ = [
    "METRIC_KEYS",
    "NANOS_PER_YEAR",
    "annual_volatility",
    "average_loss",
    "average_win",
    "cagr",
    "calmar",
    "compute_metrics",
    "drawdown_curve",
    "expectancy",
    "exposure_time",
    "max_drawdown",
    "max_drawdown_duration",
    "periods_per_year",
    "profit_factor",
    "returns_from_equity",
    "sharpe",
    "sortino",
    "total_return",
    "win_rate",
]

NANOS_PER_YEAR: int = 365 * NANOS_PER_DAY + NANOS_PER_DAY // 4
"""A year of 365.25 days, in nanoseconds."""

METRIC_KEYS: tuple[str, ...] = (
    "start_equity",
    "final_equity",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_days",
    "win_rate",
    "profit_factor",
    "expectancy",
    "average_win",
    "average_loss",
    "exposure_time",
    "num_trades",
    "periods_per_year",
)
"""The keys of :func:`compute_metrics`'s result, in order."""


def _check_periods(periods: float) -> float:
    value = float(periods)
    # nan is accepted and propagates (an unknown frequency gives nan metrics).
    if value <= 0.0 or math.isinf(value):
        raise ValueError(f"periods per year must be positive and finite, got {periods!r}")
    return value


def _check_returns(returns: npt.ArrayLike, periods_per_year: float) -> tuple[FloatArray, float]:
    periods = _check_periods(periods_per_year)
    return as_float_1d(returns, "returns"), periods


def _too_few(returns: FloatArray, present: int) -> bool:
    # Fewer than 2 returns, or fewer than ``present`` of them not NaN.
    return returns.size < 2 or count_present(returns) < present


def _growth_rate(growth: float | np.floating, num_years: float) -> float:
    # Annual rate of a growth factor reached in ``num_years``; nan for a negative factor (no
    # real root in general: do not let an even integer exponent flip the sign).
    if growth < 0.0:
        return NAN
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # Scalar float64 power (libm pow, as empyrical): overflows to inf instead of raising.
        return float(np.float64(growth) ** (1.0 / num_years) - 1.0)


def _annual_return(returns: FloatArray, periods: float) -> float:
    # CAGR of a return series: ``prod(1 + r) ** (P / n) - 1`` (NaN returns count as 0).
    n = returns.size
    if n < 1:
        return NAN
    return _growth_rate(np.nanprod(returns + 1.0), n / periods)


# --------------------------------------------------------------------------------------------
# Returns and frequency
# --------------------------------------------------------------------------------------------


def returns_from_equity(equity: npt.ArrayLike) -> FloatArray:
    """Simple per-bar returns of an equity curve.

    .. math:: r_t = \\frac{E_t - E_{t-1}}{E_{t-1}}, \\quad t = 1, \\dots, n - 1

    Parameters
    ----------
    equity : array_like of float, shape (n,)
        Account equity at the close of each bar.

    Returns
    -------
    numpy.ndarray of float64, shape (max(n - 1, 0),)
        The returns. A bar following an equity of 0 has a return of ``nan`` (0 / 0) or
        ``±inf``, without a warning.
    """
    values = as_float_1d(equity, "equity")
    if values.size < 2:
        return np.empty(0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diff(values) / values[:-1]


def periods_per_year(ts_ns: npt.ArrayLike) -> float:
    """Observed number of bars per year.

    .. math:: P = \\frac{n - 1}{(t_{n-1} - t_0) / Y}, \\quad Y = 365.25 \\text{ days}

    Daily equity bars give about 252, 24/5 hourly FX bars about 6,200, and gaps (weekends,
    holidays, missing bars) are accounted for because only the bar count and the total span
    are used.

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Bar timestamps, UTC nanoseconds, non-decreasing.

    Returns
    -------
    float
        ``P``; ``nan`` when there are fewer than 2 bars or the span is not positive.
    """
    ts = as_int_1d(ts_ns, "ts_ns")
    n = ts.size
    if n < 2:
        return NAN
    span = int(ts[-1]) - int(ts[0])
    if span <= 0:
        return NAN
    return (n - 1) * NANOS_PER_YEAR / span


# --------------------------------------------------------------------------------------------
# Return-based metrics
# --------------------------------------------------------------------------------------------


def total_return(equity: npt.ArrayLike) -> float:
    """Total return of an equity curve.

    .. math:: R = \\frac{E_{n-1}}{E_0} - 1

    Parameters
    ----------
    equity : array_like of float, shape (n,)

    Returns
    -------
    float
        ``R``; 0 for a single bar, ``nan`` when empty or when ``E_0`` is not positive.
    """
    values = as_float_1d(equity, "equity")
    if values.size == 0 or not values[0] > 0.0:
        return NAN
    return float(values[-1] / values[0] - 1.0)


def cagr(equity: npt.ArrayLike, periods_per_year: float) -> float:
    """Compound annual growth rate of an equity curve.

    .. math:: \\mathrm{CAGR} = \\left(\\frac{E_{n-1}}{E_0}\\right)^{P / (n - 1)} - 1

    The growth factor ``E_{n-1} / E_0`` equals ``prod(1 + r_t)`` of the curve's returns, so
    this is ``empyrical.cagr(returns, annualization=P)``; the endpoints are used because they
    carry no accumulated rounding. (When the final equity is negative, empyrical raises the
    negative factor to the power anyway, which is real only for integer ``P / (n - 1)``; here
    the CAGR is then ``nan``.)

    Parameters
    ----------
    equity : array_like of float, shape (n,)
    periods_per_year : float
        Annualisation factor ``P`` (bars per year).

    Returns
    -------
    float
        The CAGR; ``nan`` with fewer than 2 bars, when ``E_0`` is not positive or when the final
        equity is negative; -1 when the final equity is 0; ``inf`` on overflow.
    """
    periods = _check_periods(periods_per_year)
    values = as_float_1d(equity, "equity")
    n = values.size
    if n < 2 or not values[0] > 0.0:
        return NAN
    return _growth_rate(values[-1] / values[0], (n - 1) / periods)


def annual_volatility(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised volatility of returns.

    .. math:: \\sigma_{\\mathrm{ann}} = \\sqrt{P}\\,
              \\sqrt{\\frac{1}{k - 1} \\sum_t (r_t - \\bar r)^2}

    over the ``k`` non-NaN returns.

    Parameters
    ----------
    returns : array_like of float, shape (n,)
    periods_per_year : float
        Annualisation factor ``P``.

    Returns
    -------
    float
        ``sigma_ann``; ``nan`` with fewer than 2 (non-NaN) returns.
    """
    values, periods = _check_returns(returns, periods_per_year)
    if _too_few(values, present=2):
        return NAN
    return float(np.nanstd(values, ddof=1) * periods**0.5)


def sharpe(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised Sharpe ratio with a risk-free rate of 0.

    .. math:: S = \\sqrt{P}\\,\\frac{\\bar r}{s}, \\quad
              s = \\sqrt{\\frac{1}{k - 1} \\sum_t (r_t - \\bar r)^2}

    over the ``k`` non-NaN returns. When all of them are equal, ``s`` is taken as exactly 0
    (not the rounding residue of the mean), as empyrical does.

    Parameters
    ----------
    returns : array_like of float, shape (n,)
    periods_per_year : float
        Annualisation factor ``P``.

    Returns
    -------
    float
        ``S``; ``nan`` with fewer than 2 (non-NaN) returns or when all returns are 0;
        ``±inf`` when all returns are equal and non-zero.
    """
    values, periods = _check_returns(returns, periods_per_year)
    if _too_few(values, present=2):
        return NAN
    std = np.nanstd(values, ddof=1)
    if np.isfinite(std) and np.nanmax(values) == np.nanmin(values):
        std = np.float64(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(values) / std * np.sqrt(periods))


def sortino(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised Sortino ratio with a required return of 0.

    .. math:: \\mathrm{So} = \\frac{P\\,\\bar r}{\\sqrt{P}\\,D}, \\quad
              D = \\sqrt{\\frac{1}{k} \\sum_t \\min(r_t, 0)^2}

    over the ``k`` non-NaN returns (the downside deviation ``D`` divides by all ``k`` returns,
    not only the negative ones).

    Parameters
    ----------
    returns : array_like of float, shape (n,)
    periods_per_year : float
        Annualisation factor ``P``.

    Returns
    -------
    float
        ``So``; ``nan`` with fewer than 2 returns, with no non-NaN return, or when no return
        is negative and the mean is 0; ``+inf`` when no return is negative and the mean is
        positive.
    """
    values, periods = _check_returns(returns, periods_per_year)
    if _too_few(values, present=1):
        return NAN
    mean_annual = np.nanmean(values) * periods
    downside = np.clip(values, -np.inf, 0.0)
    np.square(downside, out=downside)
    downside_risk = np.sqrt(np.nanmean(downside)) * np.sqrt(periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(mean_annual / downside_risk)


def calmar(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Calmar ratio: compound annual growth over the maximum drawdown.

    .. math:: C = \\frac{(\\prod_t (1 + r_t))^{P / n} - 1}{|\\mathrm{MDD}|}

    with ``MDD`` as in :func:`max_drawdown` of the returns.

    Parameters
    ----------
    returns : array_like of float, shape (n,)
    periods_per_year : float
        Annualisation factor ``P``.

    Returns
    -------
    float
        ``C``; ``nan`` when there are no returns, when the maximum drawdown is not negative,
        when the compounded growth is negative, or when the ratio is infinite.
    """
    values, periods = _check_returns(returns, periods_per_year)
    mdd = max_drawdown(values, kind="returns")
    if not mdd < 0.0:
        return NAN
    ratio = _annual_return(values, periods) / abs(mdd)
    if math.isinf(ratio):
        return NAN
    return ratio


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def compute_metrics(
    ts_ns: npt.ArrayLike,
    equity: npt.ArrayLike,
    trade_pnls: npt.ArrayLike,
    in_market: npt.ArrayLike,
    *,
    periods: float | None = None,
) -> dict[str, float]:
    """Every metric of a run, as a flat dictionary of floats.

    Returns are ``r = returns_from_equity(equity)`` and the annualisation factor is
    ``P = periods`` or, by default, the observed ``periods_per_year(ts_ns)``. Then:

    ============================== ===========================================================
    key                            value
    ============================== ===========================================================
    ``start_equity``               ``E_0``
    ``final_equity``               ``E_{n-1}``
    ``total_return``               :func:`total_return` ``(equity)``
    ``cagr``                       :func:`cagr` ``(equity, P)``
    ``annual_volatility``          :func:`annual_volatility` ``(r, P)``
    ``sharpe``                     :func:`sharpe` ``(r, P)``
    ``sortino``                    :func:`sortino` ``(r, P)``
    ``calmar``                     :func:`calmar` ``(r, P)``
    ``max_drawdown``               :func:`max_drawdown` ``(equity)``
    ``max_drawdown_duration_days`` :func:`max_drawdown_duration` ``(ts_ns, equity)`` / 1 day
    ``win_rate``                   :func:`win_rate` ``(trade_pnls)``
    ``profit_factor``              :func:`profit_factor` ``(trade_pnls)``
    ``expectancy``                 :func:`expectancy` ``(trade_pnls)``
    ``average_win``                :func:`average_win` ``(trade_pnls)``
    ``average_loss``               :func:`average_loss` ``(trade_pnls)``
    ``exposure_time``              :func:`exposure_time` ``(in_market)``
    ``num_trades``                 ``N = len(trade_pnls)``
    ``periods_per_year``           ``P``
    ============================== ===========================================================

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Bar timestamps, UTC nanoseconds, non-decreasing.
    equity : array_like of float, shape (n,)
        Equity at each bar; should start positive.
    trade_pnls : array_like of float, shape (N,)
        Net PnL of each closed round trip; must be finite.
    in_market : array_like of bool, shape (n,)
        Whether a position was open during each bar.
    periods : float, optional
        Annualisation factor; overrides the observed bar frequency (e.g. 252 for daily bars).

    Returns
    -------
    dict of str to float
        Exactly the keys of :data:`METRIC_KEYS`, in that order. Values are Python floats and
        may be ``nan`` or ``±inf`` (see the module's edge cases); serialise ``nan`` as JSON
        ``null`` and infinities as ``"inf"`` / ``"-inf"``.

    Raises
    ------
    ValueError
        If there are no bars, the arrays have different lengths, the timestamps decrease,
        ``periods`` is not positive and finite, or a trade PnL is not finite.
    """
    ts = as_int_1d(ts_ns, "ts_ns")
    values = as_float_1d(equity, "equity")
    flags = np.asarray(in_market, dtype=np.bool_)
    pnls = as_trade_pnls(trade_pnls)
    n = values.size
    if n == 0:
        raise ValueError("equity is empty: metrics need at least one bar")
    if ts.size != n or flags.shape != (n,):
        raise ValueError(
            f"ts_ns ({ts.size}), equity ({n}) and in_market ({flags.size}) must have one "
            "entry per bar"
        )
    if np.any(ts[1:] < ts[:-1]):
        raise ValueError("ts_ns must be non-decreasing")
    # An unknown frequency (nan) propagates: every annualised metric is then nan.
    ppy = periods_per_year(ts) if periods is None else _check_periods(periods)
    if periods is not None and math.isnan(ppy):
        raise ValueError("periods must be positive and finite, got nan")
    returns = returns_from_equity(values)

    return {
        "start_equity": float(values[0]),
        "final_equity": float(values[-1]),
        "total_return": total_return(values),
        "cagr": cagr(values, ppy),
        "annual_volatility": annual_volatility(returns, ppy),
        "sharpe": sharpe(returns, ppy),
        "sortino": sortino(returns, ppy),
        "calmar": calmar(returns, ppy),
        "max_drawdown": max_drawdown(values),
        "max_drawdown_duration_days": max_drawdown_duration(ts, values) / NANOS_PER_DAY,
        "win_rate": win_rate(pnls),
        "profit_factor": profit_factor(pnls),
        "expectancy": expectancy(pnls),
        "average_win": average_win(pnls),
        "average_loss": average_loss(pnls),
        "exposure_time": exposure_time(flags),
        "num_trades": float(pnls.size),
        "periods_per_year": float(ppy),
    }
