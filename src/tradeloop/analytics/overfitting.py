"""Overfitting statistics, part one: the probabilistic and deflated Sharpe ratios (the
probability of backtest overfitting is in :mod:`tradeloop.analytics.pbo`).

Is the best Sharpe ratio of a parameter search better than the best of as many worthless
strategies would be (the deflated Sharpe ratio, DSR)? Does the configuration that wins in
sample keep winning out of sample (the probability of backtest overfitting, PBO)?

Every Sharpe ratio here is **per period**, not annualised: an annualised ratio ``S`` over
``P`` periods a year is ``S / sqrt(P)``, and a variance ``V`` of annualised ratios is
``V / P``. Kurtosis is the **non-excess (Pearson) kurtosis**, 3 for normal returns
(``scipy.stats.kurtosis`` and ``pandas.Series.kurt`` give the excess kurtosis: add 3).

References: Bailey and López de Prado, "The Sharpe ratio efficient frontier", Journal of Risk
15(2), 2012 (PSR); Bailey and López de Prado, "The deflated Sharpe ratio", Journal of
Portfolio Management 40(5), 2014 (DSR, expected maximum Sharpe ratio); Bailey, Borwein,
López de Prado and Zhu, "The probability of backtest overfitting", Journal of Computational
Finance 20(4), 2017 (PBO by combinatorially symmetric cross-validation, CSCV).
"""

from __future__ import annotations

import logging
import math
import operator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import NAN, FloatArray
from tradeloop.analytics._wording import floor_2dp, plural
from tradeloop.core.errors import ConfigError

__all__ = [
    "DSR_INCONCLUSIVE",
    "DSR_SIGNIFICANT",
    "EULER_MASCHERONI",
    "DeflatedSharpe",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_from_returns",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
]

logger = logging.getLogger(__name__)

EULER_MASCHERONI: float = 0.5772156649015329
"""The Euler-Mascheroni constant, used by the expected maximum Sharpe ratio."""

DSR_SIGNIFICANT: float = 0.95
"""A DSR at or above this is reported as unlikely to be luck (95 % confidence)."""
DSR_INCONCLUSIVE: float = 0.5
"""A DSR below this is reported as possibly luck (not even more likely skill than not)."""

_NORMAL = NormalDist()


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return number


def _count(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _vector(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_moments(skew: float, kurtosis: float) -> tuple[float, float]:
    skew = _finite(skew, "skew")
    kurtosis = _finite(kurtosis, "kurtosis")
    # Every distribution has kurtosis >= 1 + skew^2 (Pearson's inequality); below that the
    # value is most likely an excess kurtosis (normal = 0) passed by mistake.
    if kurtosis < 1.0 + skew * skew - 1e-9 * max(1.0, kurtosis):
        raise ConfigError(
            f"kurtosis {kurtosis:g} is below 1 + skew^2 = {1.0 + skew * skew:g}, which no "
            "distribution has: pass the non-excess (Pearson) kurtosis, 3 for normal returns"
        )
    return skew, kurtosis


def _psr(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    radicand = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    excess = sr - sr_benchmark
    if radicand <= 0.0:
        # Only on the boundary kurtosis = 1 + skew^2 at sr = 2 / skew: no sampling dispersion.
        return NAN if excess == 0.0 else float(excess > 0.0)
    z = excess * math.sqrt(n_obs - 1) / math.sqrt(radicand)
    return _NORMAL.cdf(z)


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probability that the true Sharpe ratio exceeds a benchmark (PSR).

    .. math:: \\mathrm{PSR}(SR^*) = \\Phi\\left(\\frac{(\\widehat{SR} - SR^*)\\sqrt{T - 1}}
              {\\sqrt{1 - \\hat\\gamma_3 \\widehat{SR} + \\frac{\\hat\\gamma_4 - 1}{4}
              \\widehat{SR}^2}}\\right)

    (Bailey and López de Prado, 2012).

    Parameters
    ----------
    sr : float
        Observed Sharpe ratio, **per period**.
    sr_benchmark : float
        Benchmark Sharpe ratio ``SR*``, per period (0 asks "is there any skill?").
    n_obs : int
        Number of returns ``T`` the Sharpe ratio was measured on; at least 2.
    skew : float, default 0.0
        Skewness of those returns.
    kurtosis : float, default 3.0
        **Non-excess (Pearson) kurtosis** of those returns, 3 for normal returns; at least
        ``1 + skew**2``, as for every distribution.

    Returns
    -------
    float
        The probability, in [0, 1].

    Raises
    ------
    ConfigError
        On a non-finite input, ``n_obs < 2`` or ``kurtosis < 1 + skew**2``.
    """
    sr = _finite(sr, "sr")
    sr_benchmark = _finite(sr_benchmark, "sr_benchmark")
    n_obs = _count(n_obs, "n_obs", 2)
    skew, kurtosis = _check_moments(skew, kurtosis)
    return _psr(sr, sr_benchmark, n_obs, skew, kurtosis)


def expected_max_sharpe(n_trials: int, sr_variance: float, sr_mean: float = 0.0) -> float:
    """Expected maximum Sharpe ratio of ``N`` trials without skill (False Strategy Theorem).

    .. math:: E[\\max_n \\widehat{SR}_n] \\approx E[\\widehat{SR}_n] + \\sqrt{V[\\widehat{SR}_n]}
              \\left((1 - \\gamma)\\,\\Phi^{-1}\\left[1 - \\frac{1}{N}\\right]
              + \\gamma\\,\\Phi^{-1}\\left[1 - \\frac{1}{N e}\\right]\\right)

    with ``gamma`` the Euler-Mascheroni constant (Bailey and López de Prado, 2014): the
    threshold ``SR0`` of the deflated Sharpe ratio.

    Parameters
    ----------
    n_trials : int
        Number of independent trials ``N``; at least 1 (one trial gives ``sr_mean``).
    sr_variance : float
        Variance of the trials' Sharpe ratios, **per period**; at least 0.
    sr_mean : float, default 0.0
        Mean Sharpe ratio of the trials under the null hypothesis, per period.

    Returns
    -------
    float
        The expected maximum, per period.

    Raises
    ------
    ConfigError
        On ``n_trials < 1``, a negative or non-finite variance or a non-finite mean.
    """
    n_trials = _count(n_trials, "n_trials", 1)
    sr_variance = _finite(sr_variance, "sr_variance")
    if sr_variance < 0.0:
        raise ConfigError(f"sr_variance must not be negative, got {sr_variance:g}")
    sr_mean = _finite(sr_mean, "sr_mean")
    if n_trials == 1:
        return sr_mean
    # Phi^-1(1 - p) = -Phi^-1(p) keeps its precision when 1 - 1/N rounds to 1.
    upper = -_NORMAL.inv_cdf(1.0 / n_trials)
    upper_e = -_NORMAL.inv_cdf(1.0 / (n_trials * math.e))
    spread = (1.0 - EULER_MASCHERONI) * upper + EULER_MASCHERONI * upper_e
    return sr_mean + math.sqrt(sr_variance) * spread


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best of several trials, with its inputs.

    Attributes
    ----------
    dsr : float
        Probability that the best trial's true Sharpe ratio exceeds ``sr0``.
    sr, sr0 : float
        Observed Sharpe ratio of the best trial and the threshold (the best Sharpe ratio
        expected from ``n_trials`` trials without skill), per period.
    n_trials, n_obs : int
        Number of trials, and of returns of the best trial.
    skew, kurtosis : float
        Skewness and non-excess (Pearson) kurtosis of the best trial's returns.
    sr_variance : float
        Variance of the trials' Sharpe ratios, per period.
    """

    dsr: float
    sr: float
    sr0: float
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float
    sr_variance: float

    @property
    def verdict(self) -> str:
        """One plain-language sentence: unlikely luck at or above :data:`DSR_SIGNIFICANT`,
        possibly luck below :data:`DSR_INCONCLUSIVE`, inconclusive in between (the DSR is
        shown floored to two decimals, so it never crosses a threshold it has not)."""
        trials = plural(self.n_trials, "trial")
        if math.isnan(self.dsr):
            return f"DSR not available: the best Sharpe ratio among {trials} is undefined"
        if self.dsr >= DSR_SIGNIFICANT:
            text = f"the best Sharpe ratio is unlikely to be luck among {trials}"
        elif self.dsr >= DSR_INCONCLUSIVE:
            text = (
                "inconclusive: the best Sharpe ratio is more likely skill than luck among "
                f"{trials}, but not with 95% confidence"
            )
        else:
            combinations = plural(self.n_trials, "combination")
            text = f"the best Sharpe ratio could well be the luck of trying {combinations}"
        return f"DSR {floor_2dp(self.dsr)}: {text}"


def deflated_sharpe_ratio(
    sr: float,
    n_obs: int,
    n_trials: int,
    sr_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    sr_mean: float = 0.0,
) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the best of ``n_trials`` trials, from its statistics.

    ``DSR = PSR(SR0)`` with ``SR0 = expected_max_sharpe(n_trials, sr_variance, sr_mean)``,
    the best Sharpe ratio expected of ``n_trials`` trials without skill (Bailey and López de
    Prado, 2014).

    Parameters
    ----------
    sr : float
        Observed Sharpe ratio of the best trial, **per period**.
    n_obs : int
        Number of returns of the best trial; at least 2.
    n_trials : int
        Number of trials (configurations tried, including the abandoned ones); at least 1.
    sr_variance : float
        Variance of all the trials' Sharpe ratios, **per period**.
    skew : float, default 0.0
        Skewness of the best trial's returns.
    kurtosis : float, default 3.0
        **Non-excess (Pearson) kurtosis** of the best trial's returns, 3 for normal returns.
    sr_mean : float, default 0.0
        Mean Sharpe ratio of the trials under the null hypothesis (0: no skill).

    Returns
    -------
    DeflatedSharpe
        The DSR, the threshold ``sr0``, the inputs and a plain-language ``verdict``.

    Raises
    ------
    ConfigError
        On an input :func:`probabilistic_sharpe_ratio` or :func:`expected_max_sharpe` rejects.
    """
    sr = _finite(sr, "sr")
    n_obs = _count(n_obs, "n_obs", 2)
    skew, kurtosis = _check_moments(skew, kurtosis)
    sr0 = expected_max_sharpe(n_trials, sr_variance, sr_mean)
    return DeflatedSharpe(
        dsr=_psr(sr, sr0, n_obs, skew, kurtosis),
        sr=sr,
        sr0=sr0,
        n_trials=operator.index(n_trials),
        n_obs=n_obs,
        skew=skew,
        kurtosis=kurtosis,
        sr_variance=float(sr_variance),
    )


def deflated_sharpe_ratio_from_returns(
    returns: npt.ArrayLike, trial_sharpes: npt.ArrayLike
) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the best trial, from its returns and every trial's Sharpe ratio.

    The best trial's Sharpe ratio is ``mean / std`` of its returns (sample deviation,
    ``ddof=1``), its skewness and kurtosis are the moment estimates ``m3 / m2**1.5`` and
    ``m4 / m2**2`` (as ``scipy.stats.skew`` and ``scipy.stats.kurtosis(fisher=False)``),
    ``NaN`` returns are skipped, and the number of trials and the variance of their Sharpe
    ratios (sample variance, ``ddof=1``; 0 for a single trial) come from ``trial_sharpes``.

    Parameters
    ----------
    returns : array_like of float, shape (T,)
        Per-period returns of the selected (best) trial; at least 2 that are not ``NaN``.
    trial_sharpes : array_like of float, shape (N,)
        **Per-period** Sharpe ratio of every trial, the selected one and the losers included.

    Returns
    -------
    DeflatedSharpe
        As :func:`deflated_sharpe_ratio`.

    Raises
    ------
    ConfigError
        On fewer than 2 returns, infinite or all-equal returns, or no or non-finite trial
        Sharpe ratios.
    """
    values = _vector(returns, "returns")
    values = values[~np.isnan(values)]
    if values.size < 2:
        raise ConfigError(f"returns: need at least 2 that are not NaN, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ConfigError("returns: contain infinite values")
    trials = _vector(trial_sharpes, "trial_sharpes")
    if trials.size == 0 or not np.all(np.isfinite(trials)):
        raise ConfigError("trial_sharpes: need one finite Sharpe ratio per trial, at least one")
    deviations = values - values.mean()
    m2 = float(np.mean(deviations**2))
    if m2 == 0.0:
        raise ConfigError("returns: all equal, so their Sharpe ratio is undefined")
    sr = float(values.mean() / np.std(values, ddof=1))
    skew = float(np.mean(deviations**3)) / m2**1.5
    kurtosis = float(np.mean(deviations**4)) / m2**2
    sr_variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    return deflated_sharpe_ratio(
        sr, values.size, trials.size, sr_variance, skew=skew, kurtosis=kurtosis
    )
