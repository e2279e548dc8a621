"""Walk-forward analysis: optimise on each in-sample window, trade the best parameters on the
out-of-sample window that follows, and stitch the out-of-sample results into one curve.

The windows are cut by bar index on the first data series (so gaps in the data do not make
windows uneven): the out-of-sample segments are ``windows`` consecutive equal segments at the
end of the data, each in-sample segment ends on the bar before its out-of-sample segment.
Rolling in-sample windows are ``train_ratio`` times as long as an out-of-sample one; anchored
ones all start at the first bar. Both modes test the same out-of-sample segments.

Each out-of-sample backtest is a fresh run over its window alone: the strategy starts flat
at the window's first bar and its indicators warm up inside the window (a 90-bar average
gives no signal in the window's first 89 bars), exactly as a strategy started on that day
would trade. Positions still open at a window's last bar are marked at its last close and
carried into the stitched curve at that value; the next window starts flat.

The stitched out-of-sample curve compounds the windows: each window's equity is scaled to
start where the previous window's ended (the first starts at the starting cash). The
walk-forward efficiency of a window is its out-of-sample annualised return over its in-sample
annualised return (of the best trial); annualised returns are comparable although in-sample
windows are longer, which objective values such as total return are not. It is NaN unless
the in-sample figure is positive.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.metrics import compute_metrics
from tradeloop.analytics.results import BacktestResult
from tradeloop.analytics.trades import Trade
from tradeloop.core.errors import ConfigError
from tradeloop.optimize import Executor, SearchSpace, TrialResult, make_executor, run_grid
from tradeloop.optimize.study import run_study
from tradeloop.optimize.windows import (
    MIN_WINDOW_BARS,
    MODES,
    Window,
    check_plan_options,
    plan_windows,
)
from tradeloop.services.backtest import (
    BacktestRequest,
    PreparedBacktest,
    check_writable,
    default_out_dir,
    prepare_backtest,
    simulate,
)
from tradeloop.services.optimize import SEARCH_METHODS, executor_label
from tradeloop.services.optimize_report import OverfittingChecks, overfitting_checks
from tradeloop.services.run_facts import fingerprint, request_settings
from tradeloop.services.runs import study_storage_url
from tradeloop.services.trial_job import (
    BacktestJob,
    Objective,
    first_combination,
    parse_objective,
    planned_trials,
)
from tradeloop.services.walkforward_files import record_walkforward, write_walkforward_files
from tradeloop.strategy.base import Strategy

logger = logging.getLogger(__name__)

#: (window number, windows, trials done in this window, trials planned in it)
WalkForwardProgress = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class WalkForwardRequest:
    """What to walk forward and how.

    Attributes
    ----------
    backtest : BacktestRequest
        The strategy, data, range and account, as for a backtest (its ``params`` are ignored).
    params : tuple of str
        ``--param`` options: ``fast=5:50:5``, ``mode=a,b``, ``size=2``.
    constraint : str, optional
        ``"fast < slow"``.
    objective : str
        ``sharpe``, ``sortino``, ``calmar``, ``return``, ``profit_factor`` or
        ``custom:module:function``.
    minimize : bool
        Lower objective is better.
    method : {"grid", "random", "tpe"}
        The search run on each in-sample window.
    trials : int, optional
        Trials per window for random and TPE search (required there).
    workers : int
        Local worker processes (or the size of a Dask ``LocalCluster``); one set of workers
        serves every window.
    dask : str, optional
        ``tcp://HOST:8786`` for an existing cluster, ``local`` to start one.
    seed : int
        The sampler's seed, the same for every window.
    study : str, optional
        Prefix of the Optuna studies' names (``<study>-w1``...); default a name derived from
        the experiment, so running the same command again resumes every window's study.
    out_dir : Path, optional
        Default ``$TRADELOOP_HOME/walkforward/<stamp>-<strategy>``.
    windows : int
        Out-of-sample windows.
    mode : {"rolling", "anchored"}
    train_ratio : float
        In-sample length as a multiple of the out-of-sample length (in anchored mode the
        first in-sample window is at least that long, later ones longer).
    """

    backtest: BacktestRequest
    params: tuple[str, ...]
    constraint: str | None = None
    objective: str = "sharpe"
    minimize: bool = False
    method: str = "grid"
    trials: int | None = None
    workers: int = 1
    dask: str | None = None
    seed: int = 0
    study: str | None = None
    out_dir: Path | None = None
    windows: int = 4
    mode: str = "rolling"
    train_ratio: float = 3.0


@dataclass
class WindowOutcome:
    """One window's search and its out-of-sample test.

    Attributes
    ----------
    window : Window
    results : list of TrialResult
        The in-sample trials, best first, failed ones last.
    best : TrialResult
        The best finished in-sample trial: the parameters traded out of sample.
    oos_result : BacktestResult
        The out-of-sample backtest with ``best.params``.
    oos_value : float
        The objective out of sample (NaN when undefined).
    checks : OverfittingChecks
        DSR and PBO of the in-sample search.
    efficiency : float
        Out-of-sample annualised return / in-sample annualised return (NaN unless the
        in-sample one is positive).
    scale : float
        The factor the window's equity was multiplied by in the stitched curve.
    study : str, optional
        The Optuna study of the search (random and TPE).
    resumed : int
        Trials of that study finished by an earlier run.
    """

    window: Window
    results: list[TrialResult]
    best: TrialResult
    oos_result: BacktestResult
    oos_value: float
    checks: OverfittingChecks
    efficiency: float = math.nan
    scale: float = 1.0
    study: str | None = None
    resumed: int = 0

    @property
    def is_metrics(self) -> dict[str, float]:
        """The best trial's in-sample figures."""
        return self.best.outcome.metrics

    @property
    def oos_metrics(self) -> dict[str, Any]:
        """The out-of-sample backtest's figures."""
        return self.oos_result.metrics

    @property
    def failed(self) -> int:
        """In-sample trials that failed or had no objective."""
        return sum(1 for r in self.results if r.outcome.error or math.isnan(r.value))


@dataclass(frozen=True)
class OosTrade:
    """An out-of-sample trade, with its window and the scale of that window's equity in the
    stitched curve (its PnL times ``scale`` is what it adds to that curve)."""

    window: int
    trade: Trade
    scale: float


@dataclass
class WalkForwardOutcome:
    """A finished walk-forward.

    Attributes
    ----------
    windows : list of WindowOutcome
        Earliest first.
    equity_ts, equity : ndarray
        The stitched out-of-sample equity curve: each window's curve scaled to start where the
        previous one ended (the first starts at the starting cash).
    equity_window : ndarray of int64
        The window number of each point of the curve.
    trades : list of OosTrade
        Every out-of-sample trade, in window order.
    metrics : dict
        Figures of the stitched curve (and its trades, scaled), with
        ``walkforward_efficiency``.
    efficiency : float
        The stitched curve's annualised return over the mean in-sample annualised return of
        the windows (NaN unless that mean is positive).
    files : list of Path
        Everything written into ``out_dir``, ``run.json`` last.
    """

    request: WalkForwardRequest
    strategy_name: str
    objective: Objective
    space: SearchSpace
    windows: list[WindowOutcome]
    equity_ts: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    equity_window: npt.NDArray[np.int64]
    trades: list[OosTrade]
    metrics: dict[str, float]
    efficiency: float
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    executor: str = ""
    elapsed: float = 0.0
    run_id: str | None = None
    run_warning: str | None = None


def run_walkforward(request: WalkForwardRequest,
                    progress: WalkForwardProgress | None = None) -> WalkForwardOutcome:
    """Optimise on each in-sample window, test the best parameters out of sample, stitch the
    out-of-sample equity, write the files and record the run.

    Parameters
    ----------
    request : WalkForwardRequest
    progress : callable, optional
        Called with (window number, windows, trials done in it, trials planned in it) when a
        window starts and after each of its trials.

    Raises
    ------
    UserError
        For any mistake in the request or the data, too few bars for the windows, or a window
        whose every trial failed; nothing is written then.
    KeyboardInterrupt
        When a random or TPE search was interrupted: the finished trials are kept in their
        studies, and running the same command again resumes them.
    """
    started_ns = time.time_ns()
    check_plan_options(request.windows, request.mode, request.train_ratio)
    space = SearchSpace.parse(request.params, request.constraint)
    objective = parse_objective(request.objective, minimize=request.minimize)
    if request.method not in SEARCH_METHODS:
        raise ConfigError(f"--method {request.method!r}: expected one of "
                          f"{', '.join(SEARCH_METHODS)}")
    per_window = planned_trials(request.method, request.trials, space, " (per window)")
    prepared = prepare_backtest(request.backtest)
    if not prepared.series:
        raise ConfigError("give at least one --data FILE")
    first, _ = prepared.series[0]
    try:
        plan = plan_windows(first.ts, request.windows, request.mode, request.train_ratio)
    except ConfigError as exc:
        raise ConfigError(f"{first.symbol}: {exc}") from None
    strategy_cls = prepared.strategy_type()
    strategy_name = strategy_cls(**first_combination(request.method, space)).id
    out_dir = request.out_dir or default_out_dir(strategy_name, "walkforward")
    check_writable(out_dir)
    executor = make_executor(request.workers, request.dask)
    label = executor_label(request.dask, executor.workers)
    base_name = request.study or _study_base(request, strategy_name, space, objective,
                                                prepared, plan)
    outcomes = []
    try:
        for window in plan:
            outcomes.append(_run_window(request, prepared, strategy_cls, space, objective,
                                        executor, window, len(plan), per_window, base_name,
                                        progress))
    finally:
        executor.close()
    outcome = _stitch(request, strategy_name, objective, space, outcomes, prepared, out_dir)
    outcome.executor = label
    outcome.elapsed = (time.time_ns() - started_ns) / 1e9
    outcome.files = write_walkforward_files(outcome)
    record_walkforward(outcome, prepared, started_ns)
    return outcome


def _run_window(request: WalkForwardRequest, prepared: PreparedBacktest,
                strategy_cls: type[Strategy], space: SearchSpace, objective: Objective,
                executor: Executor, window: Window, windows: int, planned: int,
                base_name: str, progress: WalkForwardProgress | None) -> WindowOutcome:
    in_sample = prepared.window(window.is_start_ns, window.is_end_ns)
    job = BacktestJob(in_sample, objective)
    if progress is not None:
        progress(window.number, windows, 0, planned)
    study_name = None
    resumed = 0
    if request.method == "grid":
        count = [0]

        def arrived(_result: TrialResult) -> None:
            count[0] += 1
            if progress is not None:
                progress(window.number, windows, count[0], planned)

        results = run_grid(space, job, executor, maximize=objective.maximize,
                           on_result=arrived)
    else:
        study_name = f"{base_name}-w{window.number}"

        def told(_result: TrialResult, done: int) -> None:
            if progress is not None:
                progress(window.number, windows, done, planned)

        identity = {"walkforward": base_name, "window": window.number,
                    "data": [fingerprint(series) for series, _ in in_sample.series]}
        study = run_study(space, job, executor, storage=study_storage_url(), name=study_name,
                          method=request.method, trials=planned,
                          maximize=objective.maximize, seed=request.seed, identity=identity,
                          on_result=told)
        if study.interrupted:
            raise KeyboardInterrupt
        results, resumed = study.results, study.resumed
    ok = [r for r in results if not r.outcome.error and not math.isnan(r.value)]
    if not ok:
        first_error = next((r.outcome.error for r in results if r.outcome.error), "no value")
        hint = ("; longer windows (fewer --windows, a larger --train-ratio) may help"
                if first_error == "the objective is undefined" else "")
        raise ConfigError(f"window {window.number} ({window.is_text()}): every in-sample "
                          f"trial failed ({len(results)}; the first: {first_error}){hint}")
    best = ok[0]
    out_of_sample = prepared.window(window.oos_start_ns, window.oos_end_ns)
    oos_result = simulate(out_of_sample, best.params, strategy_cls=strategy_cls)
    try:
        oos_value = objective.score(oos_result)
    except Exception as exc:  # a custom objective's bug costs this figure, not the run
        logger.warning("objective failed out of sample", extra={"fields": {
            "window": window.number, "error": f"{type(exc).__name__}: {exc}"}})
        oos_value = math.nan
    is_cagr = best.outcome.metrics.get("cagr", math.nan)
    efficiency = _ratio(float(oos_result.metrics.get("cagr", math.nan)), is_cagr)
    return WindowOutcome(window, results, best, oos_result, oos_value,
                         overfitting_checks(results), efficiency, study=study_name,
                         resumed=resumed)


def _ratio(oos: float, in_sample: float) -> float:
    if not (math.isfinite(oos) and math.isfinite(in_sample)) or in_sample <= 0:
        return math.nan
    return oos / in_sample


def _stitch(request: WalkForwardRequest, strategy_name: str, objective: Objective,
            space: SearchSpace, outcomes: Sequence[WindowOutcome], prepared: PreparedBacktest,
            out_dir: Path) -> WalkForwardOutcome:
    level = float(prepared.config.cash)
    times, curves, owners, in_market = [], [], [], []
    trades: list[OosTrade] = []
    closed_pnls: list[float] = []
    for item in outcomes:
        run = item.oos_result.run
        start = float(run.equity[0])
        item.scale = level / start if start > 0 else 1.0
        curve = np.asarray(run.equity, dtype=np.float64) * item.scale
        level = float(curve[-1])
        times.append(np.asarray(run.timeline, dtype=np.int64))
        curves.append(curve)
        owners.append(np.full(curve.shape[0], item.window.number, dtype=np.int64))
        in_market.append(np.asarray(run.in_market, dtype=bool))
        for trade in item.oos_result.trades:
            trades.append(OosTrade(item.window.number, trade, item.scale))
            if not trade.is_open:
                closed_pnls.append(trade.pnl * item.scale)
    ts = np.concatenate(times)
    equity = np.concatenate(curves)
    metrics: dict[str, float] = compute_metrics(ts, equity, np.asarray(closed_pnls),
                                                np.concatenate(in_market))
    metrics["num_trades"] = float(len(trades))
    metrics["num_closed_trades"] = float(len(closed_pnls))
    in_sample = [float(o.is_metrics.get("cagr", math.nan)) for o in outcomes]
    mean_is = float(np.mean(in_sample)) if all(math.isfinite(v) for v in in_sample) else math.nan
    efficiency = _ratio(float(metrics.get("cagr", math.nan)), mean_is)
    metrics["walkforward_efficiency"] = efficiency
    return WalkForwardOutcome(request, strategy_name, objective, space, list(outcomes), ts,
                              equity, np.concatenate(owners), trades, metrics, efficiency,
                              out_dir)


def _study_base(request: WalkForwardRequest, strategy_name: str, space: SearchSpace,
                objective: Objective, prepared: PreparedBacktest,
                plan: Sequence[Window]) -> str:
    settings = request_settings(request.backtest, prepared.config)
    settings.pop("risk", None)
    risk = request.backtest.risk
    identity = {
        "strategy": prepared.strategy_class,
        "space": {p.name: [str(v) for v in p.values()] for p in space.params},
        "constraint": str(space.constraint) if space.constraint else None,
        "objective": objective.spec, "maximize": objective.maximize,
        "method": request.method, "seed": request.seed, "mode": request.mode,
        "windows": [(w.is_start_ns, w.is_end_ns) for w in plan],
        "data": [fingerprint(series) for series, _ in prepared.series],
        "settings": settings,
        "risk": str(risk.expanduser().resolve()) if risk is not None else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return f"{strategy_name}-wf-{request.method}-{digest.hexdigest()[:12]}"


__all__ = [
    "MIN_WINDOW_BARS",
    "MODES",
    "OosTrade",
    "WalkForwardOutcome",
    "WalkForwardProgress",
    "WalkForwardRequest",
    "Window",
    "WindowOutcome",
    "plan_windows",
    "run_walkforward",
]
