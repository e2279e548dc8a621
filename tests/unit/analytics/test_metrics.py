"""Tests of tradeloop.analytics.metrics.

Return-based metrics are checked against empyrical-reloaded on the same returns, on real price
series and on generated ones. Agreement is to a relative 1e-9; values that are zero up to
rounding get a small absolute floor, because empyrical sums with bottleneck (sequentially) and
tradeloop with NumPy (pairwise), so near-zero results differ in their rounding noise only.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.analytics import metrics as m
from tradeloop.analytics.metrics import (
    METRIC_KEYS,
    NANOS_PER_YEAR,
    annual_volatility,
    average_loss,
    average_win,
    cagr,
    calmar,
    compute_metrics,
    drawdown_curve,
    expectancy,
    exposure_time,
    max_drawdown,
    max_drawdown_duration,
    periods_per_year,
    profit_factor,
    returns_from_equity,
    sharpe,
    sortino,
    total_return,
    win_rate,
)

DAY = 86_400 * 1_000_000_000
HOUR = DAY // 24
REL = 1e-9

REPO_ROOT = Path(__file__).resolve().parents[3]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def data_file(name: str) -> Path:
    """A bundled sample when the repository has one, else the shared data directory."""
    bundled = REPO_ROOT / "src" / "tradeloop" / "data" / "samples" / name
    if bundled.exists():
        return bundled
    shared = REPO_ROOT.parent / "shared" / "data" / name
    if not shared.exists():
        pytest.skip(f"sample data {name} not found at {bundled} or {shared}")
    return shared


def load_close(name: str) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(data_file(name))
    # The files' timestamps are naive UTC.
    ts = pd.to_datetime(frame["Date"]).to_numpy(dtype="datetime64[ns]")
    return ts.astype(np.int64), frame["Close"].to_numpy(dtype=np.float64)


def buy_and_hold(close: np.ndarray, capital: float = 10_000.0) -> np.ndarray:
    return close * (capital / close[0])


def assert_agrees(ours: float, theirs: float, *, abs_tol: float = 0.0) -> None:
    theirs = float(theirs)
    assert isinstance(ours, float)
    if math.isnan(theirs):
        assert math.isnan(ours), (ours, theirs)
    elif math.isinf(theirs):
        assert ours == theirs, (ours, theirs)
    else:
        assert math.isclose(ours, theirs, rel_tol=REL, abs_tol=abs_tol), (ours, theirs)


def empyrical_reference(
    name: str, returns: np.ndarray, ppy: float
) -> tuple[Callable[[], float], float]:
    """Return (tradeloop's value, empyrical's value) makers for one metric on returns."""
    ours: dict[str, Callable[[], float]] = {
        "annual_volatility": lambda: annual_volatility(returns, ppy),
        "sharpe": lambda: sharpe(returns, ppy),
        "sortino": lambda: sortino(returns, ppy),
        "calmar": lambda: calmar(returns, ppy),
        "max_drawdown": lambda: max_drawdown(returns, kind="returns"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = {
            "annual_volatility": lambda: empyrical.annual_volatility(returns, annualization=ppy),
            "sharpe": lambda: empyrical.sharpe_ratio(returns, annualization=ppy),
            "sortino": lambda: empyrical.sortino_ratio(returns, annualization=ppy),
            "calmar": lambda: empyrical.calmar_ratio(returns, annualization=ppy),
            "max_drawdown": lambda: empyrical.max_drawdown(returns),
        }[name]()
    return ours[name], float(theirs)


RETURN_METRICS = ["annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown"]
# Sums of up to a few hundred returns of magnitude <= 1, annualised by up to sqrt(6,000):
# rounding differences between sequential and pairwise summation stay far below this.
NEAR_ZERO = {
    "annual_volatility": 1e-12,
    "sharpe": 1e-10,
    "sortino": 1e-10,
    "calmar": 0.0,
    "max_drawdown": 0.0,
}


# --------------------------------------------------------------------------------------------
# Real price series against empyrical
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def goog() -> tuple[np.ndarray, np.ndarray]:
    ts, close = load_close("GOOG.csv")
    return ts, buy_and_hold(close)


@pytest.fixture(scope="module")
def eurusd() -> tuple[np.ndarray, np.ndarray]:
    ts, close = load_close("EURUSD.csv")
    return ts, buy_and_hold(close)


def test_observed_frequency_of_daily_and_hourly_bars(goog, eurusd) -> None:
    assert 245 < periods_per_year(goog[0]) < 260
    # 24 hours x 5 days x ~52 weeks, less holidays and missing hours.
    assert 5_800 < periods_per_year(eurusd[0]) < 6_300


@pytest.mark.parametrize("sample", ["goog", "eurusd"])
def test_returns_from_equity_match_empyrical_simple_returns(sample, request) -> None:
    _, equity = request.getfixturevalue(sample)
    np.testing.assert_array_equal(returns_from_equity(equity), empyrical.simple_returns(equity))


@pytest.mark.parametrize("name", RETURN_METRICS)
@pytest.mark.parametrize("sample", ["goog", "eurusd"])
def test_return_metrics_match_empyrical_on_real_prices(sample, name, request) -> None:
    ts, equity = request.getfixturevalue(sample)
    ppy = 252.0 if sample == "goog" else periods_per_year(ts)
    ours, theirs = empyrical_reference(name, returns_from_equity(equity), ppy)
    assert_agrees(ours(), theirs)
    assert math.isfinite(theirs)


@pytest.mark.parametrize("sample", ["goog", "eurusd"])
def test_equity_metrics_match_empyrical_on_real_prices(sample, request) -> None:
    ts, equity = request.getfixturevalue(sample)
    ppy = 252.0 if sample == "goog" else periods_per_year(ts)
    returns = returns_from_equity(equity)
    assert_agrees(cagr(equity, ppy), empyrical.cagr(returns, annualization=ppy))
    assert_agrees(max_drawdown(equity), empyrical.max_drawdown(returns))
    assert_agrees(total_return(equity), empyrical.cum_returns_final(returns))


@pytest.mark.parametrize("sample", ["goog", "eurusd"])
def test_compute_metrics_matches_the_single_functions(sample, request) -> None:
    ts, equity = request.getfixturevalue(sample)
    in_market = np.ones(equity.size, dtype=bool)
    pnls = np.array([equity[-1] - equity[0]])
    periods = 252.0 if sample == "goog" else None
    result = compute_metrics(ts, equity, pnls, in_market, periods=periods)
    ppy = periods_per_year(ts) if periods is None else periods
    returns = returns_from_equity(equity)

    assert tuple(result) == METRIC_KEYS
    assert all(type(value) is float for value in result.values())
    assert result["periods_per_year"] == ppy
    assert result["start_equity"] == equity[0]
    assert result["final_equity"] == equity[-1]
    assert result["cagr"] == cagr(equity, ppy)
    assert result["sharpe"] == sharpe(returns, ppy)
    assert result["sortino"] == sortino(returns, ppy)
    assert result["calmar"] == calmar(returns, ppy)
    assert result["annual_volatility"] == annual_volatility(returns, ppy)
    assert result["max_drawdown"] == max_drawdown(equity)
    assert result["max_drawdown_duration_days"] == max_drawdown_duration(ts, equity) / DAY
    assert result["max_drawdown_duration_days"] > 0
    assert result["exposure_time"] == 1.0
    assert result["num_trades"] == 1.0
    assert result["win_rate"] == 1.0
    assert result["profit_factor"] == math.inf
    assert_agrees(result["sharpe"], empyrical.sharpe_ratio(returns, annualization=ppy))


def test_goog_drawdown_duration_against_a_plain_loop(goog) -> None:
    ts, equity = goog
    assert max_drawdown_duration(ts, equity) == reference_duration(ts, equity)


# --------------------------------------------------------------------------------------------
# Generated return series against empyrical
# --------------------------------------------------------------------------------------------

PERIODS = st.sampled_from([1.0, 12.0, 52.0, 252.0, 365.25, 6_205.2])
RETURN = st.floats(min_value=-1.0, max_value=1.5, allow_nan=False)
RETURN_SERIES = st.one_of(
    st.lists(RETURN, min_size=0, max_size=200),
    # Constant series exercise the zero-dispersion conventions.
    st.builds(lambda value, n: [value] * n, RETURN, st.integers(0, 50)),
    st.lists(st.sampled_from([-0.01, 0.0, 0.01, 0.02]), min_size=0, max_size=50),
)


@settings(max_examples=300, deadline=None)
@given(returns=RETURN_SERIES, ppy=PERIODS, name=st.sampled_from(RETURN_METRICS))
def test_return_metrics_match_empyrical_on_generated_returns(returns, ppy, name) -> None:
    array = np.array(returns, dtype=np.float64)
    ours, theirs = empyrical_reference(name, array, ppy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = ours()
    assert_agrees(value, theirs, abs_tol=NEAR_ZERO[name])


@settings(max_examples=150, deadline=None)
@given(
    returns=st.lists(st.one_of(RETURN, st.just(math.nan)), min_size=0, max_size=60),
    ppy=PERIODS,
    name=st.sampled_from(RETURN_METRICS),
)
def test_nan_returns_are_skipped_as_in_empyrical(returns, ppy, name) -> None:
    array = np.array(returns, dtype=np.float64)
    ours, theirs = empyrical_reference(name, array, ppy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = ours()
    assert_agrees(value, theirs, abs_tol=NEAR_ZERO[name])


@settings(max_examples=300, deadline=None)
@given(
    returns=st.lists(st.floats(-0.9, 1.5, allow_nan=False), min_size=1, max_size=200),
    ppy=PERIODS,
    start=st.floats(1e-3, 1e9),
)
def test_equity_metrics_match_empyrical_on_generated_curves(returns, ppy, start) -> None:
    equity = start * np.concatenate(([1.0], np.cumprod(1.0 + np.array(returns))))
    derived = returns_from_equity(equity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        their_cagr = empyrical.cagr(derived, annualization=ppy)
    assert_agrees(cagr(equity, ppy), their_cagr, abs_tol=1e-12)
    assert_agrees(max_drawdown(equity), empyrical.max_drawdown(derived), abs_tol=1e-12)
    assert_agrees(total_return(equity), empyrical.cum_returns_final(derived), abs_tol=1e-12)


# --------------------------------------------------------------------------------------------
# Drawdowns
# --------------------------------------------------------------------------------------------


def reference_duration(ts: np.ndarray, equity: np.ndarray) -> int:
    """Per-bar loop: time from the last bar at the peak to the first bar back at it."""
    longest = 0
    peak = -math.inf
    peak_ts = None
    underwater = False
    for stamp, value in zip(ts.tolist(), equity.tolist(), strict=True):
        if value >= peak:
            if underwater and peak_ts is not None:
                longest = max(longest, stamp - peak_ts)
            peak, peak_ts, underwater = value, stamp, False
        else:
            underwater = True
    if underwater and peak_ts is not None:
        longest = max(longest, int(ts[-1]) - peak_ts)
    return longest


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0]), min_size=0, max_size=80),
    gaps=st.lists(st.integers(0, 5), min_size=80, max_size=80),
)
def test_drawdown_duration_matches_a_plain_loop(steps, gaps) -> None:
    equity = 100.0 + np.cumsum(np.array(steps, dtype=np.float64))
    ts = np.cumsum(np.array(gaps[: len(steps)], dtype=np.int64)) * HOUR
    assert max_drawdown_duration(ts, equity) == reference_duration(ts, equity)


@settings(max_examples=200, deadline=None)
@given(returns=st.lists(st.floats(-0.99, 1.0, allow_nan=False), min_size=0, max_size=100))
def test_drawdown_curve_properties(returns) -> None:
    equity = 50.0 * np.concatenate(([1.0], np.cumprod(1.0 + np.array(returns))))
    curve = drawdown_curve(equity)
    assert curve.shape == equity.shape
    assert np.all(curve <= 0.0)
    assert np.all(curve >= -1.0)
    assert curve[0] == 0.0
    assert max_drawdown(equity) == curve.min()
    running_peak = np.maximum.accumulate(equity)
    np.testing.assert_array_equal(curve == 0.0, equity == running_peak)


def test_drawdown_curve_by_hand() -> None:
    curve = drawdown_curve([100.0, 120.0, 90.0, 60.0, 130.0, 117.0])
    np.testing.assert_allclose(curve, [0.0, 0.0, -0.25, -0.5, 0.0, -0.1], rtol=1e-15)
    assert max_drawdown([100.0, 120.0, 90.0, 60.0, 130.0, 117.0]) == -0.5
    assert max_drawdown([0.2, -0.25, -1 / 3, 1.5], kind="returns") == pytest.approx(-0.5)


def test_drawdown_duration_by_hand() -> None:
    ts = np.arange(7, dtype=np.int64) * DAY
    # Peak 110 on day 1, regained on day 4 (3 days); new peak day 5, open to day 6 (1 day).
    assert max_drawdown_duration(ts, [100, 110, 105, 100, 110, 120, 90]) == 3 * DAY
    # Never regained: from the peak on day 1 to the last bar.
    assert max_drawdown_duration(ts, [100, 110, 105, 100, 108, 109, 109.9]) == 5 * DAY
    # A flat top is not a drawdown: it starts at the last bar at the peak (day 2).
    assert max_drawdown_duration(ts, [100, 110, 110, 90, 110, 111, 112]) == 2 * DAY
    # Monotonic and flat curves have none.
    assert max_drawdown_duration(ts, [1, 2, 3, 4, 5, 6, 7]) == 0
    assert max_drawdown_duration(ts, [5] * 7) == 0
    assert max_drawdown_duration(ts[:0], []) == 0
    assert max_drawdown_duration(ts[:1], [100]) == 0


def test_drawdown_duration_uses_wall_clock_time_across_gaps() -> None:
    # Friday 21:00 peak, Monday 01:00 recovery: the weekend counts.
    ts = np.array([0, HOUR, 52 * HOUR, 53 * HOUR], dtype=np.int64)
    assert max_drawdown_duration(ts, [1.0, 0.9, 0.95, 1.0]) == 53 * HOUR
    assert isinstance(max_drawdown_duration(ts, [1.0, 0.9, 0.95, 1.0]), int)


def test_max_drawdown_of_returns_and_of_equity_agree() -> None:
    returns = np.array([0.1, -0.2, 0.05, -0.3, 0.4])
    equity = 100.0 * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    assert max_drawdown(returns, kind="returns") == pytest.approx(max_drawdown(equity), rel=1e-12)
    with pytest.raises(ValueError, match="kind"):
        max_drawdown(returns, kind="prices")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Hand-computed metrics
# --------------------------------------------------------------------------------------------


def test_periods_per_year_by_hand() -> None:
    assert periods_per_year(np.arange(366, dtype=np.int64) * DAY) == 365.25
    assert periods_per_year(np.arange(10_000, dtype=np.int64) * HOUR) == 8_766.0
    assert NANOS_PER_YEAR == 365.25 * DAY
    assert math.isnan(periods_per_year(np.array([0], dtype=np.int64)))
    assert math.isnan(periods_per_year(np.array([5, 5, 5], dtype=np.int64)))
    assert math.isnan(periods_per_year(np.array([], dtype=np.int64)))
    with pytest.raises(TypeError):
        periods_per_year(np.array([0.0, 1.0]))


def test_return_metrics_by_hand() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    returns = returns_from_equity(equity)
    np.testing.assert_allclose(returns, [0.1, -0.1, 0.1], rtol=1e-14)
    assert total_return(equity) == pytest.approx(0.089)
    # Three returns are three years at one period per year.
    assert cagr(equity, 1.0) == pytest.approx(1.089 ** (1 / 3) - 1)
    mean, std = 0.1 / 3, np.std([0.1, -0.1, 0.1], ddof=1)
    assert annual_volatility(returns, 4.0) == pytest.approx(2 * std)
    assert sharpe(returns, 4.0) == pytest.approx(2 * mean / std)
    assert sortino(returns, 4.0) == pytest.approx(4 * mean / (2 * math.sqrt(0.01 / 3)))
    assert max_drawdown(equity) == pytest.approx(-0.1)
    assert calmar(returns, 1.0) == pytest.approx((1.089 ** (1 / 3) - 1) / 0.1)


def test_trade_statistics_by_hand() -> None:
    pnls = [100.0, -50.0, 0.0, 200.0, -150.0]
    assert win_rate(pnls) == 0.4
    assert profit_factor(pnls) == 1.5
    assert expectancy(pnls) == 20.0
    assert average_win(pnls) == 150.0
    assert average_loss(pnls) == -100.0


def test_trade_statistics_edge_cases() -> None:
    for stat in (win_rate, profit_factor, expectancy, average_win, average_loss):
        assert math.isnan(stat([]))
    assert profit_factor([10.0, 5.0]) == math.inf
    assert math.isnan(average_loss([10.0, 5.0]))
    assert profit_factor([-10.0]) == 0.0
    assert math.isnan(average_win([-10.0]))
    assert win_rate([-10.0]) == 0.0
    # Only break-even trades: no wins, no profit, no loss.
    assert win_rate([0.0, 0.0]) == 0.0
    assert math.isnan(profit_factor([0.0, 0.0]))
    assert expectancy([0.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="finite"):
        expectancy([1.0, math.nan])
    with pytest.raises(ValueError, match="finite"):
        profit_factor([math.inf])


def test_exposure_time() -> None:
    assert exposure_time([True, False, True, True]) == 0.75
    assert exposure_time(np.zeros(3, dtype=bool)) == 0.0
    assert exposure_time([1, 1]) == 1.0
    assert math.isnan(exposure_time([]))
    assert type(exposure_time([True])) is float


# --------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------


def run(equity: list[float], *, step: int = DAY, **kwargs: float) -> dict[str, float]:
    ts = np.arange(len(equity), dtype=np.int64) * step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return compute_metrics(ts, equity, [], np.zeros(len(equity), dtype=bool), **kwargs)


def test_constant_equity() -> None:
    result = run([100.0] * 10, periods=252.0)
    assert result["total_return"] == 0.0
    assert result["cagr"] == 0.0
    assert result["annual_volatility"] == 0.0
    assert result["max_drawdown"] == 0.0
    assert result["max_drawdown_duration_days"] == 0.0
    for key in ("sharpe", "sortino", "calmar"):
        assert math.isnan(result[key]), key
    returns = np.zeros(9)
    assert math.isnan(empyrical.sharpe_ratio(returns))
    assert math.isnan(empyrical.calmar_ratio(returns))


def test_steady_growth_has_infinite_sharpe_and_sortino() -> None:
    returns = np.full(20, 0.001)
    assert sharpe(returns, 252.0) == math.inf
    assert sortino(returns, 252.0) == math.inf
    assert sharpe(-returns, 252.0) == -math.inf
    assert empyrical.sharpe_ratio(returns, annualization=252) == math.inf
    assert math.isnan(calmar(returns, 252.0))


def test_single_bar() -> None:
    result = run([100.0])
    assert result["start_equity"] == result["final_equity"] == 100.0
    assert result["total_return"] == 0.0
    assert result["max_drawdown"] == 0.0
    assert result["max_drawdown_duration_days"] == 0.0
    assert math.isnan(result["periods_per_year"])
    for key in ("cagr", "annual_volatility", "sharpe", "sortino", "calmar"):
        assert math.isnan(result[key]), key
    for key in ("win_rate", "profit_factor", "expectancy", "average_win", "average_loss"):
        assert math.isnan(result[key]), key
    assert result["num_trades"] == 0.0
    assert result["exposure_time"] == 0.0
    # With an explicit frequency, one bar still has no return to annualise.
    assert math.isnan(run([100.0], periods=252.0)["cagr"])


def test_two_bars() -> None:
    result = run([100.0, 101.0], periods=252.0)
    assert result["cagr"] == pytest.approx(1.01**252 - 1)
    for key in ("annual_volatility", "sharpe", "sortino"):
        assert math.isnan(result[key]), key
    assert math.isnan(result["calmar"])


def test_identical_timestamps_leave_the_frequency_unknown() -> None:
    result = run([100.0, 90.0, 95.0], step=0)
    assert math.isnan(result["periods_per_year"])
    for key in ("cagr", "annual_volatility", "sharpe", "sortino", "calmar"):
        assert math.isnan(result[key]), key
    assert result["max_drawdown"] == pytest.approx(-0.1)


def test_equity_touching_zero() -> None:
    equity = [100.0, 50.0, 0.0, 0.0]
    result = run(equity, periods=252.0)
    assert result["total_return"] == -1.0
    assert result["cagr"] == -1.0
    assert result["max_drawdown"] == -1.0
    assert result["calmar"] == -1.0
    assert result["max_drawdown_duration_days"] == 3.0
    returns = returns_from_equity(equity)
    assert returns[:2].tolist() == [-0.5, -1.0]
    assert math.isnan(returns[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_agrees(result["cagr"], empyrical.cagr(returns, annualization=252))
        assert_agrees(result["sharpe"], empyrical.sharpe_ratio(returns, annualization=252))
        assert_agrees(result["sortino"], empyrical.sortino_ratio(returns, annualization=252))
        assert_agrees(result["calmar"], empyrical.calmar_ratio(returns, annualization=252))


def test_negative_equity() -> None:
    equity = [100.0, -20.0, -10.0]
    result = run(equity, periods=252.0)
    assert result["total_return"] == pytest.approx(-1.1)
    # 2 returns at 252 a year: the exponent 126 is even, yet the CAGR is undefined.
    assert math.isnan(result["cagr"])
    assert math.isnan(result["calmar"])
    assert result["max_drawdown"] == pytest.approx(-1.2)
    assert np.all(drawdown_curve(equity) <= 0.0)


def test_non_positive_start_is_undefined() -> None:
    assert math.isnan(total_return([0.0, 10.0]))
    assert math.isnan(cagr([-5.0, 10.0], 252.0))
    assert np.isnan(drawdown_curve([0.0, 0.0])).all()
    assert math.isnan(max_drawdown([0.0, 0.0]))
    assert math.isnan(max_drawdown([]))
    assert math.isnan(max_drawdown([], kind="returns"))


def test_periods_override_and_validation() -> None:
    assert run([100.0, 101.0, 99.0], step=HOUR, periods=252.0)["periods_per_year"] == 252.0
    assert run([100.0, 101.0, 99.0], step=HOUR)["periods_per_year"] == 8_766.0
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            run([100.0, 101.0], periods=bad)
    with pytest.raises(ValueError):
        sharpe([0.1, 0.2], 0.0)


def test_compute_metrics_rejects_bad_input() -> None:
    ts = np.arange(3, dtype=np.int64) * DAY
    flags = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match="at least one bar"):
        compute_metrics(ts[:0], [], [], flags[:0])
    with pytest.raises(ValueError, match="one entry per bar"):
        compute_metrics(ts, [1.0, 2.0], [], flags)
    with pytest.raises(ValueError, match="one entry per bar"):
        compute_metrics(ts, [1.0, 2.0, 3.0], [], flags[:2])
    with pytest.raises(ValueError, match="non-decreasing"):
        compute_metrics(ts[::-1], [1.0, 2.0, 3.0], [], flags)
    with pytest.raises(ValueError, match="one-dimensional"):
        compute_metrics(ts, [[1.0, 2.0, 3.0]], [], flags)
    with pytest.raises(ValueError, match="finite"):
        compute_metrics(ts, [1.0, 2.0, 3.0], [math.nan], flags)


def test_results_serialise_to_json_with_nan_as_null() -> None:
    result = compute_metrics(
        np.arange(4, dtype=np.int64) * DAY,
        [100.0, 110.0, 121.0, 133.1],
        [5.0, 7.0],
        [True, True, False, True],
        periods=252.0,
    )
    assert result["profit_factor"] == math.inf
    assert math.isnan(result["average_loss"])

    def safe(value: float) -> float | str | None:
        if math.isnan(value):
            return None
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else value

    text = json.dumps({key: safe(value) for key, value in result.items()}, allow_nan=False)
    decoded = json.loads(text)
    assert decoded["average_loss"] is None
    assert decoded["profit_factor"] == "inf"
    assert decoded["exposure_time"] == 0.75
    assert decoded["num_trades"] == 2.0


# --------------------------------------------------------------------------------------------
# Size and purity
# --------------------------------------------------------------------------------------------


def test_million_bars_compute() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    equity = 1e6 * np.cumprod(1.0 + rng.normal(0.0, 0.001, n))
    ts = np.arange(n, dtype=np.int64) * HOUR
    in_market = rng.random(n) < 0.6
    pnls = rng.normal(0.0, 100.0, 20_000)
    result = compute_metrics(ts, equity, pnls, in_market)
    assert result["periods_per_year"] == 8_766.0


def test_inputs_are_not_modified() -> None:
    equity = np.array([100.0, 90.0, 95.0, 120.0])
    returns = returns_from_equity(equity)
    before = equity.copy(), returns.copy()
    drawdown_curve(equity)
    max_drawdown(returns, kind="returns")
    sortino(returns, 252.0)
    compute_metrics(np.arange(4, dtype=np.int64) * DAY, equity, [1.0], [True] * 4)
    np.testing.assert_array_equal(equity, before[0])
    np.testing.assert_array_equal(returns, before[1])


def test_public_names() -> None:
    assert set(m.__all__) >= {
        "returns_from_equity",
        "periods_per_year",
        "total_return",
        "cagr",
        "annual_volatility",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_duration",
        "drawdown_curve",
        "win_rate",
        "profit_factor",
        "expectancy",
        "average_win",
        "average_loss",
        "exposure_time",
        "compute_metrics",
    }
    for name in m.__all__:
        obj = getattr(m, name)
        if callable(obj):
            assert obj.__doc__ and "Returns" in obj.__doc__, name
