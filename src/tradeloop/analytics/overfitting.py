"""Overfitting statistics: the deflated Sharpe ratio and the probability of backtest overfitting.

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

import itertools
import logging
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import NAN, FloatArray
from tradeloop.core.errors import ConfigError

__all__ = [
    "DSR_INCONCLUSIVE",
    "DSR_SIGNIFICANT",
    "EULER_MASCHERONI",
    "MAX_SPLITS",
    "PBO_HIGH",
    "PBO_LOW",
    "DeflatedSharpe",
    "PBOResult",
    "column_sharpe",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_from_returns",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
]

logger = logging.getLogger(__name__)

EULER_MASCHERONI: float = 0.5772156649015329
"""The Euler-Mascheroni constant, used by the expected maximum Sharpe ratio."""

DSR_SIGNIFICANT: float = 0.95
"""A DSR at or above this is reported as unlikely to be luck (95 % confidence)."""
DSR_INCONCLUSIVE: float = 0.5
"""A DSR below this is reported as possibly luck (not even more likely skill than not)."""
PBO_LOW: float = 0.1
"""A PBO below this is reported as overfitting being unlikely."""
PBO_HIGH: float = 0.5
"""A PBO at or above this is reported as likely overfit (no better than a random pick)."""

MAX_SPLITS: int = 20
"""The largest number of CSCV splits accepted (184,756 combinations)."""
MIN_ROWS_PER_SPLIT: int = 2
"""Each CSCV split needs at least two rows, so that a dispersion can be measured."""

_NORMAL = NormalDist()
# Combinations evaluated at once are capped so that a chunk holds about this many metric values.
_CHUNK_CELLS = 1 << 21

Metric = Callable[[FloatArray], npt.ArrayLike]


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


def _floor_2dp(value: float) -> str:
    # Floored, so that the shown value never crosses a verdict threshold the true one has not.
    return f"{math.floor(value * 100.0 + 1e-9) / 100.0:.2f}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


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
        trials = _plural(self.n_trials, "trial")
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
            combinations = _plural(self.n_trials, "combination")
            text = f"the best Sharpe ratio could well be the luck of trying {combinations}"
        return f"DSR {_floor_2dp(self.dsr)}: {text}"


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


def column_sharpe(performance: npt.ArrayLike) -> FloatArray:
    """Per-period Sharpe ratio of every column: ``mean / std`` with ``ddof=1``.

    The default CSCV metric of :func:`probability_of_backtest_overfitting`. A column without
    dispersion gives ``±inf`` (or ``nan`` when its mean is 0 too), without a warning.

    Parameters
    ----------
    performance : array_like of float, shape (T, N)
        Per-period returns, one column per trial; ``T >= 2``.

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
    """
    block = np.asarray(performance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(block.mean(axis=0) / block.std(axis=0, ddof=1), dtype=np.float64)


@dataclass(frozen=True, eq=False, slots=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV, with the per-combination detail.

    Arrays have one entry per combination, in lexicographic order of the in-sample splits
    (``(0, 1, ..., S/2 - 1)`` first), and are read-only.

    Attributes
    ----------
    pbo : float
        Share of combinations whose logit is ``<= 0``: the in-sample best configuration
        ranks at or below the out-of-sample median.
    logits : numpy.ndarray of float64
        ``ln(w / (1 - w))``, ``w = rank / (N + 1)`` the out-of-sample rank of the in-sample
        best (1 = worst, ``N`` = best; ties share their mean rank).
    in_sample_metric, out_of_sample_metric : numpy.ndarray of float64
        The metric of the in-sample best in and out of sample: the degradation pairs.
    best_in_sample : numpy.ndarray of int64
        Column index of the in-sample best configuration.
    n_combinations, n_splits, n_trials : int
        ``C(S, S / 2)``, the number of splits ``S`` and of configurations ``N``.
    rows_per_split, rows_dropped : int
        Rows in each split, and oldest rows left out to make the splits equal.
    """

    pbo: float
    logits: FloatArray
    in_sample_metric: FloatArray
    out_of_sample_metric: FloatArray
    best_in_sample: npt.NDArray[np.int64]
    n_combinations: int
    n_splits: int
    n_trials: int
    rows_per_split: int
    rows_dropped: int

    @property
    def degradation_pairs(self) -> FloatArray:
        """The (in-sample, out-of-sample) metric of the in-sample best, shape (C, 2)."""
        return np.column_stack((self.in_sample_metric, self.out_of_sample_metric))

    @property
    def probability_of_loss(self) -> float:
        """Share of combinations where the in-sample best has a negative out-of-sample metric."""
        return float(np.mean(self.out_of_sample_metric < 0.0))

    @property
    def degradation_slope(self) -> float:
        """Least-squares slope of the out-of-sample metric on the in-sample one (negative:
        better in sample foretells worse out of sample; ``nan`` if in-sample is constant)."""
        x, y = self.in_sample_metric, self.out_of_sample_metric
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        if x.size < 2:
            return NAN
        dx = x - x.mean()
        denominator = float(np.dot(dx, dx))
        if denominator == 0.0:
            return NAN
        return float(np.dot(dx, y - y.mean()) / denominator)

    @property
    def verdict(self) -> str:
        """One plain-language sentence: overfitting unlikely below :data:`PBO_LOW`, likely at
        or above :data:`PBO_HIGH`, some risk in between (the PBO is shown floored)."""
        share = f"{math.floor(self.pbo * 100.0 + 1e-9):d}%"
        if self.pbo < PBO_LOW:
            label, share, ending = "overfitting is unlikely", f"only {share}", ""
        elif self.pbo < PBO_HIGH:
            label, ending = "some risk of overfitting", ""
        else:
            label, ending = "likely overfit", ", no better than picking one at random"
        return (
            f"PBO {_floor_2dp(self.pbo)}: {label}: the configuration that is best in sample "
            f"falls to or below the out-of-sample median in {share} of "
            f"{_plural(self.n_combinations, 'split')}{ending}"
        )


def _check_performance(performance: npt.ArrayLike) -> FloatArray:
    matrix = np.asarray(performance, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ConfigError(
            "performance must be a 2-D matrix (rows = periods) with at least 2 trials "
            f"(columns) to select from, got shape {matrix.shape}"
        )
    bad = np.flatnonzero(~np.all(np.isfinite(matrix), axis=0))
    if bad.size:
        shown = ", ".join(str(int(column)) for column in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ConfigError(f"performance column(s) {shown}{more} contain NaN or infinite values")
    return matrix


def _check_splits(n_splits: int, n_rows: int) -> int:
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer):
        raise ConfigError(f"n_splits must be an integer, got {n_splits!r}")
    splits = int(n_splits)
    if splits < 2 or splits > MAX_SPLITS or splits % 2:
        raise ConfigError(f"n_splits must be an even number from 2 to {MAX_SPLITS}, got {splits}")
    if n_rows // splits < MIN_ROWS_PER_SPLIT:
        raise ConfigError(
            f"performance has {n_rows} rows: too few for n_splits={splits}, which needs at "
            f"least {MIN_ROWS_PER_SPLIT * splits} ({MIN_ROWS_PER_SPLIT} rows per split)"
        )
    return splits


def _combination_masks(n_splits: int) -> npt.NDArray[np.bool_]:
    chosen = np.array(list(itertools.combinations(range(n_splits), n_splits // 2)), dtype=np.intp)
    masks = np.zeros((chosen.shape[0], n_splits), dtype=np.bool_)
    masks[np.arange(chosen.shape[0])[:, None], chosen] = True
    return masks


def _sharpe_from_sums(
    sums: FloatArray, squares: FloatArray, n: int, centre: FloatArray
) -> FloatArray:
    # Sums of values centred on ``centre``: the variance does not depend on it, the mean does.
    mean = sums / n
    variance = np.maximum((squares - n * mean * mean) / (n - 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((mean + centre) / np.sqrt(variance), dtype=np.float64)


def _sharpe_chunks(
    blocks: FloatArray, masks: npt.NDArray[np.bool_], chunk: int
) -> Iterator[tuple[FloatArray, FloatArray]]:
    # All combinations' Sharpe ratios from per-split sums: one matrix product per chunk.
    n_rows = blocks.shape[0] * blocks.shape[1] // 2
    centre = blocks.mean(axis=(0, 1))
    centred = blocks - centre
    block_sums = centred.sum(axis=1)
    block_squares = (centred * centred).sum(axis=1)
    total_sums, total_squares = block_sums.sum(axis=0), block_squares.sum(axis=0)
    for start in range(0, masks.shape[0], chunk):
        weights = masks[start : start + chunk].astype(np.float64)
        sums, squares = weights @ block_sums, weights @ block_squares
        yield (
            _sharpe_from_sums(sums, squares, n_rows, centre),
            _sharpe_from_sums(total_sums - sums, total_squares - squares, n_rows, centre),
        )


def _metric_chunks(
    blocks: FloatArray, masks: npt.NDArray[np.bool_], chunk: int, metric: Metric
) -> Iterator[tuple[FloatArray, FloatArray]]:
    # Any metric: two calls per combination, each vectorised over the columns.
    n_trials = blocks.shape[2]
    n_rows = blocks.shape[0] * blocks.shape[1] // 2
    for start in range(0, masks.shape[0], chunk):
        part = masks[start : start + chunk]
        values = np.empty((2, part.shape[0], n_trials), dtype=np.float64)
        for row, mask in enumerate(part):
            for side, chosen in enumerate((mask, ~mask)):
                result = np.asarray(metric(blocks[chosen].reshape(n_rows, n_trials)), np.float64)
                if result.shape != (n_trials,):
                    raise ConfigError(
                        f"metric must return one value per trial, shape ({n_trials},), "
                        f"got {result.shape}"
                    )
                values[side, row] = result
        yield values[0], values[1]


def _rank_chosen(
    in_sample: FloatArray, out_of_sample: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray, FloatArray]:
    # Per combination (row): the in-sample best column (first on ties; nan ranks lowest), the
    # logit of its out-of-sample relative rank, and its metric in and out of sample.
    rows = np.arange(in_sample.shape[0])
    best = np.argmax(np.where(np.isnan(in_sample), -np.inf, in_sample), axis=1)
    oos = np.where(np.isnan(out_of_sample), -np.inf, out_of_sample)
    chosen = oos[rows, best][:, None]
    below = np.count_nonzero(oos < chosen, axis=1)
    tied = np.count_nonzero(oos == chosen, axis=1)
    relative_rank = (below + (tied + 1) / 2.0) / (in_sample.shape[1] + 1)
    logits = np.log(relative_rank / (1.0 - relative_rank))
    return best, logits, in_sample[rows, best], out_of_sample[rows, best]


def probability_of_backtest_overfitting(
    performance: npt.ArrayLike, n_splits: int = 16, metric: Metric = column_sharpe
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    CSCV (Bailey, Borwein, López de Prado and Zhu, 2017): the ``T`` rows are cut into
    ``S = n_splits`` consecutive splits of equal size; each choice of ``S / 2`` splits is an
    in-sample set and the rest its out-of-sample set, ``C(S, S / 2)`` combinations (12,870
    for ``S = 16``). In each, the configuration with the best in-sample metric is ranked out
    of sample among all ``N`` (1 = worst, ties share their mean rank); with
    ``w = rank / (N + 1)`` the logit is ``ln(w / (1 - w))``. The PBO is the share of logits
    ``<= 0``: how often the in-sample winner ends at or below the out-of-sample median.

    When ``T`` is not a multiple of ``S`` the ``T mod S`` **oldest** rows (at the start) are
    left out, so the most recent data is always used. A metric value of ``nan`` ranks below
    every other; on an in-sample tie the first column wins.

    Parameters
    ----------
    performance : array_like of float, shape (T, N)
        Per-period performance (returns or PnL) in time order, one column per configuration;
        finite, at least 2 columns and 2 rows per split.
    n_splits : int, default 16
        Number of splits ``S``: even, from 2 to :data:`MAX_SPLITS`.
    metric : callable, default :func:`column_sharpe`
        Maps a ``(rows, N)`` matrix (the chosen splits' rows, in time order) to ``N`` values,
        higher = better. The default is computed for all combinations at once from per-split
        sums; any other metric is called twice per combination.

    Returns
    -------
    PBOResult
        The PBO, the logits, the degradation pairs and a plain-language ``verdict``.

    Raises
    ------
    ConfigError
        On a matrix that is not 2-D, fewer than 2 columns, a column holding ``NaN`` or an
        infinity, a bad ``n_splits``, fewer than 2 rows per split, or a metric returning the
        wrong shape.
    """
    matrix = _check_performance(performance)
    n_rows, n_trials = matrix.shape
    splits = _check_splits(n_splits, n_rows)
    rows_per_split = n_rows // splits
    dropped = n_rows - rows_per_split * splits
    blocks = matrix[dropped:].reshape(splits, rows_per_split, n_trials)
    masks = _combination_masks(splits)
    logger.debug(
        "CSCV: %d rows x %d trials, %d splits of %d rows (%d oldest dropped), %d combinations",
        *(n_rows, n_trials, splits, rows_per_split, dropped, masks.shape[0]),
    )
    chunk = max(1, _CHUNK_CELLS // n_trials)
    chunks = (
        _sharpe_chunks(blocks, masks, chunk)
        if metric is column_sharpe
        else _metric_chunks(blocks, masks, chunk, metric)
    )
    ranked = [_rank_chosen(in_sample, out_of_sample) for in_sample, out_of_sample in chunks]
    best, logits, in_best, out_best = (np.concatenate(parts) for parts in zip(*ranked, strict=True))
    best = best.astype(np.int64, copy=False)
    for array in (best, logits, in_best, out_best):
        array.setflags(write=False)
    return PBOResult(
        pbo=float(np.count_nonzero(logits <= 0.0) / logits.size),
        logits=logits,
        in_sample_metric=in_best,
        out_of_sample_metric=out_best,
        best_in_sample=best,
        n_combinations=int(logits.size),
        n_splits=splits,
        n_trials=n_trials,
        rows_per_split=rows_per_split,
        rows_dropped=dropped,
    )
