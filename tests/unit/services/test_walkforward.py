"""Walk-forward analysis: the window plan, and a walk-forward of the bundled SMA crossover on
the bundled EURUSD hourly bars."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_HOUR, ns_to_iso
from tradeloop.optimize import SearchSpace
from tradeloop.services.backtest import BacktestRequest, prepare_backtest, simulate
from tradeloop.services.runs import get_run
from tradeloop.services.trial_job import BacktestJob, parse_objective
from tradeloop.services.walkforward import (
    MIN_WINDOW_BARS,
    WalkForwardOutcome,
    WalkForwardRequest,
    Window,
    plan_windows,
    run_walkforward,
)

START = 1_700_000_000 * 1_000_000_000
GRID = ("fast=5:20:5", "slow=30:90:30")
BACKTEST = BacktestRequest("sma_cross", data=("EURUSD",))


def _hours(n: int) -> np.ndarray:
    return START + np.arange(n, dtype=np.int64) * NANOS_PER_HOUR


def _check_layout(plan: list[Window], ts: np.ndarray) -> None:
    for w in plan:
        assert w.is_end == w.oos_start - 1
        assert (w.is_start_ns, w.is_end_ns) == (ts[w.is_start], ts[w.is_end])
        assert (w.oos_start_ns, w.oos_end_ns) == (ts[w.oos_start], ts[w.oos_end])
    for before, after in itertools.pairwise(plan):
        assert after.oos_start == before.oos_end + 1
        assert after.oos_start_ns > before.oos_end_ns
    assert plan[-1].oos_end == len(ts) - 1


# -- plan_windows ------------------------------------------------------------------------------


def test_rolling_windows_have_exact_bounds() -> None:
    ts = _hours(100)
    plan = plan_windows(ts, 4, "rolling", 3.0)
    # L = floor(100 / 7) = 14 bars out of sample, 42 in sample; the first 2 bars unused
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in plan] == [
        (2, 43, 44, 57), (16, 57, 58, 71), (30, 71, 72, 85), (44, 85, 86, 99)]
    assert [w.number for w in plan] == [1, 2, 3, 4]
    assert {w.oos_bars for w in plan} == {14}
    assert {w.is_bars for w in plan} == {42}
    _check_layout(plan, ts)


def test_anchored_windows_start_at_the_first_bar() -> None:
    ts = _hours(100)
    plan = plan_windows(ts, 4, "anchored", 3.0)
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in plan] == [
        (0, 43, 44, 57), (0, 57, 58, 71), (0, 71, 72, 85), (0, 85, 86, 99)]
    assert {w.is_start_ns for w in plan} == {int(ts[0])}
    rolling = plan_windows(ts, 4, "rolling", 3.0)
    assert [(w.oos_start, w.oos_end) for w in plan] == [(w.oos_start, w.oos_end)
                                                        for w in rolling]
    _check_layout(plan, ts)


def test_windows_are_cut_by_bar_index_across_gaps() -> None:
    ts = _hours(200)
    ts[50:] += 60 * NANOS_PER_HOUR  # a weekend-like hole
    ts[120:] += 500 * NANOS_PER_HOUR
    plan = plan_windows(ts, 3, "rolling", 2.0)
    # L = floor(200 / 5) = 40, IS = 80: equal bar counts whatever the clock says
    assert [(w.is_start, w.oos_start, w.oos_end) for w in plan] == [
        (0, 80, 119), (40, 120, 159), (80, 160, 199)]
    _check_layout(plan, ts)


def test_fractional_ratio_and_one_window() -> None:
    ts = _hours(90)
    plan = plan_windows(ts, 4, "rolling", 0.5)  # L = floor(90 / 4.5) = 20, IS = 10
    first = plan[0]
    assert (first.is_start, first.is_end, first.oos_start, first.oos_end) == (0, 9, 10, 29)
    assert {w.oos_bars for w in plan} == {20} and {w.is_bars for w in plan} == {10}
    single = plan_windows(_hours(40), 1, "rolling", 3.0)
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in single] == [(0, 29, 30, 39)]


@pytest.mark.parametrize(("bars", "windows", "ratio", "needed"), [
    (69, 4, 3.0, 70), (89, 4, 0.5, 90), (5, 1, 1.0, 20)])
def test_too_few_bars_says_how_many_are_needed(bars: int, windows: int, ratio: float,
                                               needed: int) -> None:
    with pytest.raises(ConfigError, match=rf"needs at least {needed:,} bars .* has {bars:,}"):
        plan_windows(_hours(bars), windows, "rolling", ratio)
    plan = plan_windows(_hours(needed), windows, "rolling", ratio)  # exactly enough
    assert min(min(w.is_bars, w.oos_bars) for w in plan) >= MIN_WINDOW_BARS


@pytest.mark.parametrize(("windows", "mode", "ratio", "message"), [
    (0, "rolling", 3.0, "--windows must be"),
    (-2, "rolling", 3.0, "--windows must be"),
    (4, "sideways", 3.0, "--mode 'sideways'"),
    (4, "rolling", 0.0, "--train-ratio must be a positive"),
    (4, "rolling", -1.0, "--train-ratio must be a positive"),
    (4, "rolling", math.nan, "--train-ratio must be a positive"),
    (4, "rolling", math.inf, "--train-ratio must be a positive"),
])
def test_bad_options_are_config_errors(windows: int, mode: str, ratio: float,
                                       message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_windows(_hours(1000), windows, mode, ratio)


# -- a walk-forward of sma_cross on EURUSD hourly ----------------------------------------------


def _walk(root: Path, **options: object) -> WalkForwardOutcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELOOP_HOME", str(root / "home"))
        settings: dict[str, object] = {"params": GRID, "workers": 1, "out_dir": root / "out"}
        settings.update(options)
        request = WalkForwardRequest(BACKTEST, **settings)  # type: ignore[arg-type]
        return run_walkforward(request)


@pytest.fixture(scope="module")
def rolling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalkForwardOutcome]:
    yield _walk(tmp_path_factory.mktemp("rolling"))


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalkForwardOutcome]:
    yield _walk(tmp_path_factory.mktemp("anchored"), mode="anchored")


def test_windows_cover_the_end_of_the_data_in_order(rolling: WalkForwardOutcome) -> None:
    ts = prepare_backtest(BACKTEST).series[0][0].ts
    assert len(ts) == 5_000
    plan = [item.window for item in rolling.windows]
    assert len(plan) == 4
    _check_layout(plan, ts)
    assert {w.oos_bars for w in plan} == {714}
    assert {w.is_bars for w in plan} == {2_142}


def test_stitched_curve_is_continuous(rolling: WalkForwardOutcome) -> None:
    equity, owner, ts = rolling.equity, rolling.equity_window, rolling.equity_ts
    assert equity[0] == 100_000.0
    assert np.all(np.diff(ts) > 0)
    assert list(np.unique(owner)) == [1, 2, 3, 4]
    for k in (2, 3, 4):
        previous_end = equity[owner == k - 1][-1]
        first = equity[owner == k][0]
        assert first == pytest.approx(previous_end, rel=1e-12)
    # each window's piece is its own run's curve scaled
    for item in rolling.windows:
        piece = equity[owner == item.window.number]
        own = item.oos_result.run.equity
        np.testing.assert_allclose(piece, own * item.scale, rtol=1e-12)
        assert ts[owner == item.window.number][0] == item.window.oos_start_ns
        assert ts[owner == item.window.number][-1] == item.window.oos_end_ns
    assert rolling.metrics["final_equity"] == pytest.approx(float(equity[-1]))


def test_every_oos_trade_falls_inside_its_window(rolling: WalkForwardOutcome) -> None:
    assert len(rolling.trades) > 10
    bounds = {item.window.number: item.window for item in rolling.windows}
    seen = set()
    for item in rolling.trades:
        w = bounds[item.window]
        seen.add(item.window)
        assert w.oos_start_ns <= item.trade.entry_ts <= w.oos_end_ns
        if item.trade.exit_ts is not None:
            assert w.oos_start_ns <= item.trade.exit_ts <= w.oos_end_ns
    assert seen == {1, 2, 3, 4}
    assert len(rolling.trades) == sum(len(i.oos_result.trades) for i in rolling.windows)


def test_best_params_are_the_in_sample_best(rolling: WalkForwardOutcome) -> None:
    prepared = prepare_backtest(BACKTEST)
    objective = parse_objective("sharpe")
    grid = SearchSpace.parse(GRID).grid()
    for item in rolling.windows:
        w = item.window
        job = BacktestJob(prepared.window(w.is_start_ns, w.is_end_ns), objective)
        values = [job(params).value for params in grid]
        best = int(np.nanargmax(values))
        assert item.best.params == grid[best]
        assert item.best.value == values[best]
        assert len(item.results) == len(grid) == 12
        # and the out-of-sample figures are a fresh run of those parameters on the window
        oos = simulate(prepared.window(w.oos_start_ns, w.oos_end_ns), grid[best])
        assert item.oos_value == pytest.approx(oos.metrics["sharpe"])
        assert item.oos_result.run.timeline[0] == w.oos_start_ns
        assert float(item.oos_result.run.equity[0]) == 100_000.0


def test_efficiency_is_oos_over_is_annualised_return(rolling: WalkForwardOutcome) -> None:
    for item in rolling.windows:
        is_cagr = item.is_metrics["cagr"]
        expected = item.oos_metrics["cagr"] / is_cagr if is_cagr > 0 else math.nan
        assert item.efficiency == pytest.approx(expected, nan_ok=True)
    mean_is = np.mean([item.is_metrics["cagr"] for item in rolling.windows])
    if mean_is > 0:
        assert rolling.efficiency == pytest.approx(rolling.metrics["cagr"] / mean_is)
    assert rolling.metrics["walkforward_efficiency"] == pytest.approx(rolling.efficiency,
                                                                       nan_ok=True)


def test_anchored_in_sample_starts_at_the_first_bar(anchored: WalkForwardOutcome,
                                                    rolling: WalkForwardOutcome) -> None:
    first = int(prepare_backtest(BACKTEST).series[0][0].ts[0])
    for a, r in zip(anchored.windows, rolling.windows, strict=True):
        assert a.window.is_start == 0 and a.window.is_start_ns == first
        assert a.window.is_end == a.window.oos_start - 1
        assert (a.window.oos_start_ns, a.window.oos_end_ns) == (r.window.oos_start_ns,
                                                                r.window.oos_end_ns)
    bars = [a.window.is_bars for a in anchored.windows]
    assert bars == sorted(bars) and bars[0] == 5_000 - 4 * 714


def test_files_are_written(rolling: WalkForwardOutcome) -> None:
    out = rolling.out_dir
    names = [p.name for p in rolling.files]
    assert names == ["trials-w1.csv", "trials-w2.csv", "trials-w3.csv", "trials-w4.csv",
                     "windows.csv", "oos_equity.csv", "oos_trades.csv", "report.html",
                     "run.json"]
    assert not list(out.glob(".*.tmp"))
    with (out / "windows.csv").open() as handle:
        windows = list(csv.DictReader(handle))
    assert [int(r["window"]) for r in windows] == [1, 2, 3, 4]
    for row, item in zip(windows, rolling.windows, strict=True):
        assert row["oos_start"] == ns_to_iso(item.window.oos_start_ns)
        assert row["is_end"] == ns_to_iso(item.window.is_end_ns)
        assert (int(row["fast"]), int(row["slow"])) == (item.best.params["fast"],
                                                        item.best.params["slow"])
        assert float(row["is_objective"]) == item.best.value
        assert float(row["oos_objective"]) == pytest.approx(item.oos_value)
        assert int(float(row["oos_num_trades"])) == len(item.oos_result.trades)
    with (out / "oos_equity.csv").open() as handle:
        equity = list(csv.DictReader(handle))
    assert len(equity) == len(rolling.equity)
    assert [float(r["equity"]) for r in equity] == rolling.equity.tolist()
    assert {r["window"] for r in equity} == {"1", "2", "3", "4"}
    assert equity[0]["time"] == ns_to_iso(rolling.windows[0].window.oos_start_ns)
    with (out / "oos_trades.csv").open() as handle:
        trades = list(csv.DictReader(handle))
    assert len(trades) == len(rolling.trades)
    assert trades[0]["entry_time"] == ns_to_iso(rolling.trades[0].trade.entry_ts)


def test_report_shows_windows_curve_and_verdicts(rolling: WalkForwardOutcome) -> None:
    page = (rolling.out_dir / "report.html").read_text()
    for text in ("Windows: in sample vs out of sample", "Overfitting checks per window",
                 "Parameters chosen per window", "Stitched out-of-sample equity"):
        assert text in page
    for item in rolling.windows:
        assert item.checks.dsr_text.split(":")[0] in page
        assert item.checks.dsr is not None and item.checks.pbo is not None
    block = re.search(r'<script type="application/json" id="tradeloop-data">(.*?)</script>',
                      page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["equity"]["rows"] == len(rolling.equity)
    assert data["equity"]["equity"][0] == 100_000.0
    assert data["symbols"] == []


def test_run_is_recorded(rolling: WalkForwardOutcome) -> None:
    doc = json.loads((rolling.out_dir / "run.json").read_text())
    assert doc["kind"] == "walkforward" and doc["run_id"] == rolling.run_id
    assert rolling.run_warning is None
    study = doc["study"]
    assert study["windows"] == 4 and study["mode"] == "rolling"
    assert [w["params"] for w in study["per_window"]] == [dict(i.best.params)
                                                          for i in rolling.windows]
    assert doc["strategy"]["params"] == dict(rolling.windows[-1].best.params)
    home = rolling.out_dir.parent / "home"
    run = get_run(str(rolling.run_id), home=home)
    assert run.kind == "walkforward"
    assert run.study is not None and len(run.study["per_window"]) == 4


def test_two_workers_write_the_same_windows_csv(tmp_path: Path) -> None:
    serial = _walk(tmp_path / "serial", windows=2)
    parallel = _walk(tmp_path / "parallel", windows=2, workers=2)
    assert (serial.executor, parallel.executor) == ("1 process", "2 local processes")
    assert (parallel.out_dir / "windows.csv").read_bytes() == (
        serial.out_dir / "windows.csv").read_bytes()
    assert (parallel.out_dir / "oos_trades.csv").read_bytes() == (
        serial.out_dir / "oos_trades.csv").read_bytes()


def test_random_search_names_a_study_per_window_and_resumes(tmp_path: Path) -> None:
    first = _walk(tmp_path, method="random", trials=3, windows=2, seed=7)
    names = [item.study for item in first.windows]
    assert all(name is not None for name in names)
    assert [str(name).rsplit("-", 1)[1] for name in names] == ["w1", "w2"]
    assert len({str(name).rsplit("-", 1)[0] for name in names}) == 1
    assert all(len(item.results) == 3 and item.resumed == 0 for item in first.windows)
    again = _walk(tmp_path, method="random", trials=3, windows=2, seed=7)
    assert [item.study for item in again.windows] == names
    assert all(item.resumed == 3 for item in again.windows)
    assert [i.best.params for i in again.windows] == [i.best.params for i in first.windows]


@pytest.mark.parametrize(("options", "message"), [
    ({"windows": 0}, "--windows must be"),
    ({"mode": "sideways"}, "--mode 'sideways'"),
    ({"train_ratio": -1.0}, "--train-ratio must be a positive"),
    ({"windows": 1000}, "EURUSD: walk-forward with 1000 windows and --train-ratio 3 needs "
                        "at least 10,030 bars"),
    ({"method": "annealing"}, "--method 'annealing'"),
    ({"method": "tpe"}, "--method tpe needs --trials"),
    ({"trials": 5}, "--trials is for --method random or tpe"),
    ({"objective": "luck"}, "--objective 'luck'"),
])
def test_bad_requests_write_nothing(tmp_path: Path, options: dict[str, object],
                                    message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _walk(tmp_path, **options)
    assert not (tmp_path / "out").exists()


def test_a_window_whose_every_trial_fails_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"window 1 .*every in-sample trial failed"):
        run_walkforward(WalkForwardRequest(BACKTEST, params=("fast=40", "slow=10:20:10"),
                                           windows=2, out_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()
