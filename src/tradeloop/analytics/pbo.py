"""The probability of backtest overfitting (PBO) by combinatorially symmetric
cross-validation (CSCV): does the configuration that wins in sample keep winning out of
sample?

Bailey, Borwein, López de Prado and Zhu, "The probability of backtest overfitting", Journal of
Computational Finance 20(4), 2017. Sharpe ratios are per period (see
:mod:`tradeloop.analytics.overfitting`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradeloop.analytics._arrays import NAN, FloatArray
from tradeloop.analytics._wording import floor_2dp, plural
from tradeloop.core.errors import ConfigError

__all__ = [
    "MAX_SPLITS",
    "PBO_HIGH",
    "PBO_LOW",
    "PBOResult",
    "column_sharpe",
    "probability_of_backtest_overfitting",
]

logger = logging.getLogger(__name__)

PBO_LOW: float = 0.1
"""A PBO below this is reported as overfitting being unlikely."""
PBO_HIGH: float = 0.5
"""A PBO at or above this is reported as likely overfit (no better than a random pick)."""

MAX_SPLITS: int = 20
"""The largest number of CSCV splits accepted (184,756 combinations)."""
MIN_ROWS_PER_SPLIT: int = 2
"""Each CSCV split needs at least two rows, so that a dispersion can be measured."""

# Combinations evaluated at once are capped so that a chunk holds about this many metric values.
_CHUNK_CELLS = 1 << 21

Metric = Callable[[FloatArray], npt.ArrayLike]


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
            f"PBO {floor_2dp(self.pbo)}: {label}: the configuration that is best in sample "
            f"falls to or below the out-of-sample median in {share} of "
            f"{plural(self.n_combinations, 'split')}{ending}"
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
