"""Tests of tradeloop.analytics.overfitting and tradeloop.analytics.pbo.

Published figures
-----------------
The expected numbers of the paper-example tests are the values printed in the papers. The
primary PDFs could not be opened from this environment; the figures were read from public
material quoting them (several independent implementations that reproduce them, e.g. the
test suite ``tests/test_paper_examples.py`` of the GitHub repository
``DaruFinance/deflated-sharpe``, and the README tables of others) and each one is reproduced
here to every printed digit, which the formulas would not do by accident. Each test names the
paper and the example. Sharpe ratios in the DSR example are per day with 250 days a year, as
in the paper (252 misses the printed 0.9004 in the fourth decimal).

For PBO no published figure can be reproduced exactly (the papers' examples are Monte Carlo
runs with unpublished seeds), so its tests check CSCV by hand on tiny matrices and check the
properties CSCV must have: pure noise gives a PBO around 0.5, a genuinely better
configuration a PBO near 0, and ``S = 16`` gives ``C(16, 8) = 12,870`` combinations.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from tradeloop.analytics.overfitting import (
    DSR_INCONCLUSIVE,
    DSR_SIGNIFICANT,
    DeflatedSharpe,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_returns,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from tradeloop.analytics.pbo import (
    MAX_SPLITS,
    PBOResult,
    column_sharpe,
    probability_of_backtest_overfitting,
)
from tradeloop.core.errors import ConfigError, UserError

DAYS = 250  # trading days a year in the DSR paper's example
PAPER_SR = 2.5 / math.sqrt(DAYS)  # annualised 2.5, per day
PAPER_VARIANCE = 0.5 / DAYS  # annualised variance 1/2 of the trials' Sharpe ratios, per day


def mean_metric(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=0)


def sharpe_metric(block: np.ndarray) -> np.ndarray:
    # The default metric written out independently, to force the per-combination path.
    return block.mean(axis=0) / block.std(axis=0, ddof=1)


def blocks_to_rows(block_values: list[list[float]], spread: float = 0.5) -> np.ndarray:
    # Two rows per block whose mean is the block's value: value - spread, value + spread.
    rows = []
    for values in block_values:
        rows.append([v - spread for v in values])
        rows.append([v + spread for v in values])
    return np.array(rows, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Published examples: DSR, PSR, expected maximum
# --------------------------------------------------------------------------------------------


def test_dsr_reproduces_the_numerical_example_of_the_dsr_paper() -> None:
    """Bailey and López de Prado (2014), "The Deflated Sharpe Ratio", numerical example
    (pp. 9-10 of the SSRN 2460551 version): N = 100 trials whose annualised Sharpe ratios
    have variance 1/2, best annualised SR 2.5 over five years of daily data (T = 1250,
    250 days a year), skewness -3, kurtosis 10. The paper prints SR0 ~ 0.1132 per day and
    DSR ~ 0.9004, which fails a 95 % bar."""
    result = deflated_sharpe_ratio(PAPER_SR, 1250, 100, PAPER_VARIANCE, skew=-3.0, kurtosis=10.0)
    assert result.sr0 == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)
    assert result.dsr < DSR_SIGNIFICANT
    assert result.verdict.startswith("DSR 0.90: inconclusive")


def test_dsr_paper_example_passes_after_46_trials() -> None:
    """Same paper and example: had only N = 46 trials been run, DSR ~ 0.9505 (passes 95 %)."""
    result = deflated_sharpe_ratio(PAPER_SR, 1250, 46, PAPER_VARIANCE, skew=-3.0, kurtosis=10.0)
    assert result.dsr == pytest.approx(0.9505, abs=5e-5)
    assert result.verdict.startswith("DSR 0.95: the best Sharpe ratio is unlikely to be luck")


def test_dsr_paper_example_with_normal_returns_after_88_trials() -> None:
    """Same paper and example: with normal returns (skew 0, kurtosis 3) the strategy reaches
    DSR ~ 0.9505 after N = 88 trials."""
    result = deflated_sharpe_ratio(PAPER_SR, 1250, 88, PAPER_VARIANCE)
    assert result.dsr == pytest.approx(0.9505, abs=5e-5)


def test_psr_reproduces_the_hedge_fund_example_of_the_frontier_paper() -> None:
    """Bailey and López de Prado (2012), "The Sharpe Ratio Efficient Frontier", hedge-fund
    example: a monthly SR of 0.458 over two years (T = 24) against a benchmark of 0 gives
    PSR 0.982 under normality and 0.913 with skewness -2.448 and kurtosis 10.164; the same
    moments over three years (T = 36) give 0.953 (printed truncated: 0.95351)."""
    assert probabilistic_sharpe_ratio(0.458, 0.0, 24) == pytest.approx(0.982, abs=5e-4)
    assert probabilistic_sharpe_ratio(0.458, 0.0, 24, -2.448, 10.164) == pytest.approx(
        0.913, abs=5e-4
    )
    assert probabilistic_sharpe_ratio(0.458, 0.0, 36, -2.448, 10.164) == pytest.approx(
        0.953, abs=1e-3
    )


def test_expected_max_of_ten_trials_is_157() -> None:
    """Bailey, Borwein, López de Prado and Zhu (2014), "Pseudo-Mathematics and Financial
    Charlatanism", Notices of the AMS 61(5), the example following its proposition on the
    expected maximum (quoted as Proposition 2.1 by implementations reproducing it): the best
    of N = 10 trials with unit-variance Sharpe ratios and no skill is expected at ~1.57."""
    assert expected_max_sharpe(10, 1.0) == pytest.approx(1.57, abs=5e-3)


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_expected_max_is_close_to_the_exact_expectation(n_trials: int) -> None:
    """Cross-check against E[max of N standard normals] by numerical integration (scipy):
    the paper's closed form is an approximation, slightly above and within 3 %."""
    exact, _ = integrate.quad(
        lambda x: x * n_trials * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n_trials - 1),
        -12.0,
        12.0,
    )
    approx = expected_max_sharpe(n_trials, 1.0)
    assert exact < approx < exact * 1.03


# --------------------------------------------------------------------------------------------
# PSR
# --------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    sr=st.floats(-0.5, 0.5),
    benchmark=st.floats(-0.5, 0.5),
    n_obs=st.integers(2, 5000),
    skew=st.floats(-3.0, 3.0),
    extra_kurtosis=st.floats(0.0, 20.0),
)
def test_psr_matches_scipy_normal_cdf(
    sr: float, benchmark: float, n_obs: int, skew: float, extra_kurtosis: float
) -> None:
    kurtosis = 1.0 + skew * skew + extra_kurtosis
    radicand = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if radicand < 1e-9:
        return
    expected = stats.norm.cdf((sr - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(radicand))
    got = probabilistic_sharpe_ratio(sr, benchmark, n_obs, skew, kurtosis)
    assert got == pytest.approx(expected, abs=1e-12)


def test_psr_is_one_half_at_the_benchmark_and_grows_with_the_track_record() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 250, -1.0, 6.0) == 0.5
    values = [probabilistic_sharpe_ratio(0.1, 0.0, n) for n in (10, 100, 1000)]
    assert values == sorted(values)
    assert values[-1] > 0.99


def test_negative_skew_and_fat_tails_lower_the_psr() -> None:
    normal = probabilistic_sharpe_ratio(0.15, 0.0, 250)
    assert probabilistic_sharpe_ratio(0.15, 0.0, 250, -1.0, 3.0) < normal
    assert probabilistic_sharpe_ratio(0.15, 0.0, 250, 0.0, 9.0) < normal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kurtosis": 0.0}, "non-excess (Pearson) kurtosis"),
        ({"skew": 2.0, "kurtosis": 4.0}, "below 1 + skew^2"),
        ({"n_obs": 1}, "n_obs must be at least 2"),
        ({"n_obs": 10.5}, "n_obs must be an integer"),
        ({"n_obs": True}, "n_obs must be an integer"),
        ({"sr": math.nan}, "sr must be a finite number"),
        ({"skew": math.inf}, "skew must be a finite number"),
    ],
)
def test_psr_rejects_bad_inputs(kwargs: dict[str, float], message: str) -> None:
    arguments: dict[str, float] = {"sr": 0.1, "sr_benchmark": 0.0, "n_obs": 100}
    arguments.update(kwargs)
    with pytest.raises(ConfigError, match=re.escape(message)):
        probabilistic_sharpe_ratio(**arguments)  # type: ignore[arg-type]


def test_config_errors_are_user_errors() -> None:
    with pytest.raises(UserError):
        probabilistic_sharpe_ratio(0.1, 0.0, 0)


# --------------------------------------------------------------------------------------------
# Expected maximum Sharpe ratio
# --------------------------------------------------------------------------------------------


def test_expected_max_of_one_trial_is_the_mean() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert expected_max_sharpe(1, 0.3, sr_mean=0.2) == 0.2


def test_expected_max_scales_with_the_deviation_and_shifts_with_the_mean() -> None:
    base = expected_max_sharpe(50, 1.0)
    assert expected_max_sharpe(50, 4.0) == pytest.approx(2.0 * base, rel=1e-15)
    assert expected_max_sharpe(50, 4.0, sr_mean=-0.5) == pytest.approx(2.0 * base - 0.5)
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_expected_max_grows_with_the_number_of_trials_even_when_huge() -> None:
    values = [expected_max_sharpe(n, 1.0) for n in (2, 10, 1_000, 10**9, 10**20)]
    assert values == sorted(values)
    assert all(math.isfinite(v) for v in values)
    # The expected maximum of N normals stays below sqrt(2 ln N) for large N.
    assert values[-1] < math.sqrt(2.0 * math.log(1e20))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1.0), "n_trials must be at least 1"),
        ((10, -0.1), "sr_variance must not be negative"),
        ((10, math.nan), "sr_variance must be a finite number"),
        ((2.0, 1.0), "n_trials must be an integer"),
    ],
)
def test_expected_max_rejects_bad_inputs(args: tuple[float, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expected_max_sharpe(*args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# DSR
# --------------------------------------------------------------------------------------------


def test_dsr_falls_as_more_trials_are_run() -> None:
    values = [
        deflated_sharpe_ratio(PAPER_SR, 1250, n, PAPER_VARIANCE, -3.0, 10.0).dsr
        for n in (1, 10, 46, 100, 1000)
    ]
    assert values == sorted(values, reverse=True)
    # One trial: no selection, the DSR is the PSR against 0.
    assert values[0] == probabilistic_sharpe_ratio(PAPER_SR, 0.0, 1250, -3.0, 10.0)


def test_dsr_result_keeps_its_inputs() -> None:
    result = deflated_sharpe_ratio(0.1, 500, 20, 0.001, skew=-0.5, kurtosis=4.0)
    assert result == DeflatedSharpe(
        dsr=result.dsr,
        sr=0.1,
        sr0=expected_max_sharpe(20, 0.001),
        n_trials=20,
        n_obs=500,
        skew=-0.5,
        kurtosis=4.0,
        sr_variance=0.001,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.dsr = 1.0  # type: ignore[misc]


def test_dsr_from_returns_matches_the_statistics_form() -> None:
    """Cross-check of the moments against scipy.stats (biased skew, Pearson kurtosis)."""
    rng = np.random.default_rng(7)
    returns = rng.standard_t(5, size=800) * 0.01 + 0.0008
    trials = rng.normal(0.0, 0.03, size=60)
    returns_with_gap = returns.copy()
    returns_with_gap = np.insert(returns_with_gap, 10, np.nan)
    result = deflated_sharpe_ratio_from_returns(returns_with_gap, trials)
    expected = deflated_sharpe_ratio(
        float(returns.mean() / returns.std(ddof=1)),
        800,
        60,
        float(np.var(trials, ddof=1)),
        skew=float(stats.skew(returns)),
        kurtosis=float(stats.kurtosis(returns, fisher=True) + 3.0),
    )
    assert result.n_obs == 800
    assert result.n_trials == 60
    for field in ("dsr", "sr", "sr0", "skew", "kurtosis", "sr_variance"):
        assert getattr(result, field) == pytest.approx(getattr(expected, field), rel=1e-12)


def test_dsr_from_returns_with_one_trial_is_the_psr_against_zero() -> None:
    returns = np.array([0.01, -0.005, 0.02, 0.0, 0.004, -0.01, 0.012])
    result = deflated_sharpe_ratio_from_returns(returns, [0.3])
    assert result.sr0 == 0.0
    assert result.sr_variance == 0.0
    assert result.dsr == pytest.approx(
        probabilistic_sharpe_ratio(result.sr, 0.0, 7, result.skew, result.kurtosis)
    )


@pytest.mark.parametrize(
    ("returns", "trials", "message"),
    [
        ([0.01], [0.1, 0.2], "need at least 2"),
        ([0.01, np.nan, np.nan], [0.1, 0.2], "need at least 2"),
        ([0.01, np.inf, 0.02], [0.1, 0.2], "infinite"),
        ([0.01, 0.01, 0.01], [0.1, 0.2], "all equal"),
        ([0.01, 0.02, -0.01], [], "one finite Sharpe ratio per trial"),
        ([0.01, 0.02, -0.01], [0.1, np.nan], "one finite Sharpe ratio per trial"),
    ],
)
def test_dsr_from_returns_rejects_bad_inputs(
    returns: list[float], trials: list[float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        deflated_sharpe_ratio_from_returns(returns, trials)


def dsr_with(value: float, n_trials: int = 200) -> DeflatedSharpe:
    return DeflatedSharpe(
        dsr=value,
        sr=0.1,
        sr0=0.05,
        n_trials=n_trials,
        n_obs=1000,
        skew=0.0,
        kurtosis=3.0,
        sr_variance=0.001,
    )


def test_dsr_verdicts_follow_the_documented_thresholds() -> None:
    assert dsr_with(0.97).verdict == (
        "DSR 0.97: the best Sharpe ratio is unlikely to be luck among 200 trials"
    )
    assert dsr_with(0.41).verdict == (
        "DSR 0.41: the best Sharpe ratio could well be the luck of trying 200 combinations"
    )
    assert dsr_with(DSR_SIGNIFICANT).verdict.startswith("DSR 0.95: the best Sharpe ratio is")
    assert dsr_with(DSR_INCONCLUSIVE).verdict.startswith("DSR 0.50: inconclusive")
    # Floored, never rounded across a threshold.
    assert dsr_with(0.9499).verdict.startswith("DSR 0.94: inconclusive")
    assert dsr_with(0.4999).verdict.startswith("DSR 0.49: the best Sharpe ratio could well")
    assert dsr_with(0.99, n_trials=1).verdict.endswith("among 1 trial")
    assert dsr_with(0.99, n_trials=12_870).verdict.endswith("among 12,870 trials")
    assert dsr_with(math.nan).verdict.startswith("DSR not available")


# --------------------------------------------------------------------------------------------
# PBO: hand-computed CSCV
# --------------------------------------------------------------------------------------------


def test_pbo_two_splits_by_hand_with_the_default_sharpe() -> None:
    """T = 4, S = 2, N = 3. Two rows per split; a pair (a, b) has Sharpe (a + b) / 2 over
    |a - b| / sqrt(2). Split 0 columns [1, 3], [0, 2], [2, 4] -> Sharpe sqrt(2), 1/sqrt(2),
    3/sqrt(2); split 1 columns [2, 4], [1, 3], [0, 2] -> 3/sqrt(2), sqrt(2), 1/sqrt(2).

    In sample = split 0: best is column 2 (3/sqrt(2)); out of sample it scores 1/sqrt(2),
    rank 1 of 3, w = 1/4, logit ln(1/3). In sample = split 1: best is column 0 (3/sqrt(2));
    out of sample sqrt(2), rank 2, w = 2/4, logit 0. Both logits <= 0: PBO = 1."""
    performance = np.array(
        [
            [1.0, 0.0, 2.0],
            [3.0, 2.0, 4.0],
            [2.0, 1.0, 0.0],
            [4.0, 3.0, 2.0],
        ]
    )
    root2 = math.sqrt(2.0)
    for metric in (column_sharpe, sharpe_metric):
        result = probability_of_backtest_overfitting(performance, n_splits=2, metric=metric)
        assert result.n_combinations == 2
        assert result.best_in_sample.tolist() == [2, 0]
        np.testing.assert_allclose(result.logits, [math.log(1 / 3), 0.0], atol=1e-12)
        np.testing.assert_allclose(result.in_sample_metric, [3 / root2, 3 / root2])
        np.testing.assert_allclose(result.out_of_sample_metric, [1 / root2, root2])
        assert result.pbo == 1.0
        assert result.verdict.startswith("PBO 1.00: likely overfit")


def test_pbo_four_splits_by_hand_with_ties() -> None:
    """T = 8, S = 4, N = 3, metric = mean. Split means (two rows v -/+ 0.5 each):
    B0 = [3, 1, 2], B1 = [1, 3, 2], B2 = [2, 1, 3], B3 = [1, 2, 3]; column sums [7, 7, 10].
    In-sample pairs in lexicographic order, IS sums -> best (first on ties) -> OOS sums ->
    rank (ties share their mean rank) -> w = rank / 4 -> logit:

    {0,1}: [4,4,4] -> col 0 -> [3,3,6]: 3 ties col 1, rank 1.5 -> 0.375 -> ln(0.6)
    {0,2}: [5,2,5] -> col 0 -> [2,5,5]: rank 1   -> 0.25  -> ln(1/3)
    {0,3}: [4,3,5] -> col 2 -> [3,4,5]: rank 3   -> 0.75  -> ln(3)
    {1,2}: [3,4,5] -> col 2 -> [4,3,5]: rank 3   -> 0.75  -> ln(3)
    {1,3}: [2,5,5] -> col 1 -> [5,2,5]: rank 1   -> 0.25  -> ln(1/3)
    {2,3}: [3,3,6] -> col 2 -> [4,4,4]: all tie, rank 2 -> 0.5 -> 0

    Four of six logits are <= 0: PBO = 2/3. The metric values are the sums halved."""
    performance = blocks_to_rows([[3, 1, 2], [1, 3, 2], [2, 1, 3], [1, 2, 3]])
    result = probability_of_backtest_overfitting(performance, n_splits=4, metric=mean_metric)
    assert result.n_combinations == 6
    assert result.rows_per_split == 2
    assert result.rows_dropped == 0
    assert result.best_in_sample.tolist() == [0, 0, 2, 2, 1, 2]
    third = math.log(1 / 3)
    np.testing.assert_allclose(
        result.logits, [math.log(0.6), third, math.log(3), math.log(3), third, 0.0], atol=1e-12
    )
    np.testing.assert_allclose(result.in_sample_metric, [2, 2.5, 2.5, 2.5, 2.5, 3])
    np.testing.assert_allclose(result.out_of_sample_metric, [1.5, 1, 2.5, 2.5, 1, 2])
    assert result.pbo == pytest.approx(2 / 3)
    np.testing.assert_allclose(
        result.degradation_pairs,
        np.column_stack((result.in_sample_metric, result.out_of_sample_metric)),
    )
    assert result.probability_of_loss == 0.0
    # OLS slope of OOS on IS by hand: IS mean 2.5, OOS mean 1.75; only the first and last
    # pairs have IS away from the mean: ((-0.5)(-0.25) + (0.5)(0.25)) / (0.25 + 0.25) = 0.5.
    assert result.degradation_slope == pytest.approx(0.5)


def test_pbo_drops_the_oldest_remainder_rows() -> None:
    rng = np.random.default_rng(3)
    performance = rng.normal(0.0, 0.01, size=(4 * 8 + 3, 5))
    result = probability_of_backtest_overfitting(performance, n_splits=8)
    trimmed = probability_of_backtest_overfitting(performance[3:], n_splits=8)
    assert result.rows_dropped == 3
    assert result.rows_per_split == 4
    np.testing.assert_array_equal(result.logits, trimmed.logits)
    np.testing.assert_array_equal(result.best_in_sample, trimmed.best_in_sample)
    different = probability_of_backtest_overfitting(performance[:-3], n_splits=8)
    assert not np.array_equal(result.in_sample_metric, different.in_sample_metric)


# --------------------------------------------------------------------------------------------
# PBO: properties
# --------------------------------------------------------------------------------------------


def test_sixteen_splits_give_12870_combinations_and_bounded_logits() -> None:
    """S = 16, the default, gives C(16, 8) = 12,870 combinations."""
    rng = np.random.default_rng(11)
    performance = rng.normal(0.0, 0.01, size=(16 * 20, 30))
    result = probability_of_backtest_overfitting(performance)
    assert result.n_splits == 16
    assert result.n_combinations == math.comb(16, 8) == 12_870
    assert result.logits.shape == (12_870,)
    # w lies in [1 / (N + 1), N / (N + 1)], so |logit| <= ln(N).
    assert np.all(np.abs(result.logits) <= math.log(30) + 1e-12)


def test_pure_noise_gives_a_pbo_around_one_half() -> None:
    """With no configuration better than another, the in-sample winner's out-of-sample rank
    is uniform: PBO ~ 0.5 on average (one sample varies widely, so 40 seeds are pooled)."""
    pbos = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        result = probability_of_backtest_overfitting(
            rng.normal(0.0, 0.01, size=(1000, 50)), n_splits=10
        )
        pbos.append(result.pbo)
    assert 0.4 < float(np.mean(pbos)) < 0.6


def test_one_genuinely_better_configuration_gives_a_pbo_near_zero() -> None:
    rng = np.random.default_rng(5)
    performance = rng.normal(0.0, 0.01, size=(1000, 50))
    performance[:, 17] += 0.003  # a daily Sharpe of about 0.3: real skill
    result = probability_of_backtest_overfitting(performance, n_splits=10)
    assert result.pbo < 0.05
    assert np.mean(result.best_in_sample == 17) > 0.95
    assert result.verdict.startswith("PBO 0.00: overfitting is unlikely")


def test_fast_default_sharpe_matches_the_per_combination_path() -> None:
    rng = np.random.default_rng(21)
    performance = rng.normal(0.0005, 0.01, size=(8 * 25, 12))
    fast = probability_of_backtest_overfitting(performance, n_splits=8)
    slow = probability_of_backtest_overfitting(performance, n_splits=8, metric=sharpe_metric)
    np.testing.assert_array_equal(fast.best_in_sample, slow.best_in_sample)
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.in_sample_metric, slow.in_sample_metric, rtol=1e-10)
    np.testing.assert_allclose(fast.out_of_sample_metric, slow.out_of_sample_metric, rtol=1e-10)
    assert fast.pbo == slow.pbo


def test_pbo_is_unchanged_by_scaling_each_column() -> None:
    rng = np.random.default_rng(8)
    performance = rng.normal(0.0002, 0.01, size=(6 * 30, 7))
    scaled = performance * np.array([1.0, 2.0, 0.5, 10.0, 3.0, 0.1, 7.0])
    a = probability_of_backtest_overfitting(performance, n_splits=6)
    b = probability_of_backtest_overfitting(scaled, n_splits=6)
    np.testing.assert_array_equal(a.best_in_sample, b.best_in_sample)
    np.testing.assert_allclose(a.logits, b.logits, atol=1e-12)
    assert a.pbo == b.pbo


def test_nan_metric_values_rank_lowest() -> None:
    # Column 0 has no dispersion anywhere and a mean of 0: its Sharpe is nan in every half.
    rng = np.random.default_rng(2)
    performance = rng.normal(0.0, 0.01, size=(40, 4))
    performance[:, 0] = 0.0
    result = probability_of_backtest_overfitting(performance, n_splits=4)
    assert not np.any(result.best_in_sample == 0)
    assert np.all(np.isfinite(result.logits))


def test_result_arrays_are_read_only() -> None:
    rng = np.random.default_rng(1)
    result = probability_of_backtest_overfitting(rng.normal(size=(20, 3)), n_splits=4)
    with pytest.raises(ValueError, match="read-only"):
        result.logits[0] = 1.0


def pbo_with(value: float) -> PBOResult:
    empty = np.empty(0)
    return PBOResult(
        pbo=value,
        logits=empty,
        in_sample_metric=empty,
        out_of_sample_metric=empty,
        best_in_sample=np.empty(0, dtype=np.int64),
        n_combinations=12_870,
        n_splits=16,
        n_trials=200,
        rows_per_split=10,
        rows_dropped=0,
    )


def test_pbo_verdicts_follow_the_documented_thresholds() -> None:
    assert pbo_with(0.05).verdict == (
        "PBO 0.05: overfitting is unlikely: the configuration that is best in sample falls "
        "to or below the out-of-sample median in only 5% of 12,870 splits"
    )
    assert pbo_with(0.1).verdict.startswith("PBO 0.10: some risk of overfitting")
    assert pbo_with(0.32).verdict == (
        "PBO 0.32: some risk of overfitting: the configuration that is best in sample falls "
        "to or below the out-of-sample median in 32% of 12,870 splits"
    )
    assert pbo_with(0.4999).verdict.startswith("PBO 0.49: some risk")
    assert pbo_with(0.5).verdict.startswith("PBO 0.50: likely overfit")
    assert pbo_with(0.61).verdict.endswith(
        "in 61% of 12,870 splits, no better than picking one at random"
    )


# --------------------------------------------------------------------------------------------
# PBO: errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "n_splits", "message"),
    [
        ((40, 5), 3, "even number from 2 to"),
        ((40, 5), 0, "even number from 2 to"),
        ((4000, 5), MAX_SPLITS + 2, "even number from 2 to"),
        ((40, 5), 4.0, "n_splits must be an integer"),
        ((40, 5), True, "n_splits must be an integer"),
        ((31, 5), 16, "31 rows: too few for n_splits=16, which needs at least 32"),
        ((40, 1), 4, r"at least 2 trials \(columns\) to select from, got shape \(40, 1\)"),
        ((40,), 4, r"2-D matrix .* got shape \(40,\)"),
    ],
)
def test_pbo_rejects_bad_settings(shape: tuple[int, ...], n_splits: int, message: str) -> None:
    performance = np.random.default_rng(0).normal(size=shape)
    with pytest.raises(ConfigError, match=message):
        probability_of_backtest_overfitting(performance, n_splits=n_splits)


def test_pbo_names_the_columns_holding_nan() -> None:
    performance = np.random.default_rng(0).normal(size=(40, 5))
    performance[3, 1] = np.nan
    performance[0, 4] = np.inf
    with pytest.raises(ConfigError, match=r"column\(s\) 1, 4 contain NaN or infinite values"):
        probability_of_backtest_overfitting(performance, n_splits=4)


def test_pbo_rejects_a_metric_of_the_wrong_shape() -> None:
    performance = np.random.default_rng(0).normal(size=(40, 5))
    with pytest.raises(ConfigError, match=r"shape \(5,\), got \(\)"):
        probability_of_backtest_overfitting(
            performance, n_splits=4, metric=lambda block: block.mean()
        )
