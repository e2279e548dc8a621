"""The optimisation use case: search a strategy's parameters over a backtest, on local
processes or a Dask cluster, record the run and write its trials and report."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloop.analytics.results import BacktestResult
from tradeloop.core.errors import ConfigError
from tradeloop.optimize import SearchSpace, TrialResult, make_executor, run_grid
from tradeloop.optimize.study import METHODS, run_study
from tradeloop.services.backtest import (
    BacktestRequest,
    PreparedBacktest,
    default_out_dir,
    prepare_backtest,
    simulate,
)
from tradeloop.services.optimize_report import (
    OverfittingChecks,
    overfitting_checks,
    write_optimization_report,
    write_trials_csv,
)
from tradeloop.services.run_facts import (
    FAILED,
    FINISHED,
    OPTIMIZE,
    RunFacts,
    data_facts,
    request_settings,
)
from tradeloop.services.runs import save_run, study_storage_url
from tradeloop.services.trial_job import (
    BacktestJob,
    Objective,
    first_combination,
    parse_objective,
    planned_trials,
)

logger = logging.getLogger(__name__)

#: ``--method`` values.
SEARCH_METHODS = ("grid", *METHODS)
OptimizeProgress = Callable[[int, int, float | None], None]


@dataclass(frozen=True)
class OptimizeRequest:
    """What to optimise and how.

    Attributes
    ----------
    backtest : BacktestRequest
        The strategy, data, range and account, as for a backtest (its ``params`` are ignored:
        fixed values go in ``params`` here as ``name=value``).
    params : tuple of str
        ``--param`` options: ``fast=5:50:5``, ``mode=a,b``, ``size=2``.
    constraint : str, optional
        ``"fast < slow"``.
    objective : str
        ``sharpe``, ``sortino``, ``calmar``, ``return``, ``profit_factor`` or
        ``custom:module:function``.
    minimize : bool
        Lower objective is better (for a custom objective such as a loss).
    method : {"grid", "random", "tpe"}
    trials : int, optional
        Trials for random and TPE search (required there); a grid runs every combination.
    workers : int
        Local worker processes (or the size of a Dask ``LocalCluster``).
    dask : str, optional
        ``tcp://HOST:8786`` for an existing cluster, ``local`` to start one.
    seed : int
    study : str, optional
        The Optuna study's name; default a name derived from the experiment, so running the
        same command again resumes it.
    heatmap : tuple of two str, optional
        The parameters of the report's heat map; default the first two that vary.
    out_dir : Path, optional
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
    heatmap: tuple[str, str] | None = None
    out_dir: Path | None = None


@dataclass
class OptimizeOutcome:
    """A finished optimisation.

    Attributes
    ----------
    results : list of TrialResult
        Every trial, best first, failed ones last.
    best : TrialResult
    best_result : BacktestResult
        The best parameters' backtest, run again in full.
    checks : OverfittingChecks
        Deflated Sharpe ratio and probability of backtest overfitting, with verdicts.
    files : list of Path
        ``trials.csv``, ``report.html`` and ``run.json``.
    study : str, optional
        The Optuna study (random and TPE search).
    resumed : int
        Trials of the study finished by an earlier run.
    """

    request: OptimizeRequest
    strategy_name: str
    objective: Objective
    space: SearchSpace
    results: list[TrialResult]
    best: TrialResult
    best_result: BacktestResult
    checks: OverfittingChecks
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    executor: str = ""
    elapsed: float = 0.0
    study: str | None = None
    resumed: int = 0
    exhausted: bool = False
    interrupted: bool = False
    run_id: str | None = None
    run_warning: str | None = None
    heatmap: tuple[str, str] | None = None

    @property
    def failed(self) -> int:
        """Trials that failed or had no objective."""
        return sum(1 for r in self.results if r.outcome.error or math.isnan(r.value))


def run_optimization(request: OptimizeRequest,
                     progress: OptimizeProgress | None = None) -> OptimizeOutcome:
    """Search the parameters, run the best again, write the files and record the run.

    Parameters
    ----------
    request : OptimizeRequest
    progress : callable, optional
        Called after each trial with (trials done, trials in all, best objective so far).

    Raises
    ------
    UserError
        For any mistake in the request or the data (nothing is written then), or when every
        trial failed (``trials.csv`` is written, to show why).
    """
    started_ns = time.time_ns()
    space = SearchSpace.parse(request.params, request.constraint)
    objective = parse_objective(request.objective, minimize=request.minimize)
    if request.method not in SEARCH_METHODS:
        raise ConfigError(f"--method {request.method!r}: expected one of "
                          f"{', '.join(SEARCH_METHODS)}")
    total = planned_trials(request.method, request.trials, space)
    prepared = prepare_backtest(request.backtest)
    strategy_cls = prepared.strategy_type()
    # unknown parameter names fail here, with a hint
    strategy_name = strategy_cls(**first_combination(request.method, space)).id
    heatmap = _heatmap_params(request.heatmap, space)
    out_dir = request.out_dir or default_out_dir(strategy_name, "optimizations")
    job = BacktestJob(prepared, objective)
    best: list[float] = []

    def arrived(result: TrialResult, done: int) -> None:
        if not result.outcome.error and not math.isnan(result.value):
            better = (not best or (result.value > best[0] if objective.maximize
                                   else result.value < best[0]))
            if better:
                best[:] = [result.value]
        if progress is not None:
            progress(done, total, best[0] if best else None)

    executor = make_executor(request.workers, request.dask)
    label = executor_label(request.dask, executor.workers)
    study_name = None
    resumed = 0
    exhausted = interrupted = False
    try:
        if request.method == "grid":
            count = [0]

            def grid_arrived(result: TrialResult) -> None:
                count[0] += 1
                arrived(result, count[0])

            results = run_grid(space, job, executor, maximize=objective.maximize,
                               on_result=grid_arrived)
        else:
            identity = _identity(request, space, objective, prepared)
            study_name = request.study or _study_name(strategy_name, identity)
            if progress is not None:
                progress(0, total, None)
            study = run_study(space, job, executor, storage=study_storage_url(),
                              name=study_name, method=request.method, trials=total,
                              maximize=objective.maximize, seed=request.seed,
                              identity=identity, on_result=arrived)
            results, resumed = study.results, study.resumed
            exhausted, interrupted = study.exhausted, study.interrupted
    finally:
        executor.close()
    ok = [r for r in results if not r.outcome.error and not math.isnan(r.value)]
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_csv = write_trials_csv(results, space.names, out_dir / "trials.csv")
    if not ok:
        first_error = next((r.outcome.error for r in results if r.outcome.error), "no value")
        raise ConfigError(f"every trial failed ({len(results)}; the first: {first_error}); "
                          f"see {trials_csv}")
    best_trial = ok[0]
    best_result = simulate(prepared, best_trial.params, strategy_cls=strategy_cls)
    checks = overfitting_checks(results)
    outcome = OptimizeOutcome(
        request, strategy_name, objective, space, results, best_trial, best_result, checks,
        out_dir, [trials_csv], label, (time.time_ns() - started_ns) / 1e9, study_name,
        resumed, exhausted, interrupted, heatmap=heatmap)
    outcome.files.append(write_optimization_report(outcome, heatmap, out_dir / "report.html"))
    _record(outcome, prepared, started_ns)
    return outcome


def _heatmap_params(wanted: tuple[str, str] | None,
                    space: SearchSpace) -> tuple[str, str] | None:
    if wanted is not None:
        x, y = (space.spec(name).name for name in wanted)  # unknown names raise, with a hint
        if x == y:
            raise ConfigError(f"--heatmap needs two different parameters, got {x} twice")
        return x, y
    varying = [p.name for p in space.params if len(p.values()) > 1]
    return (varying[0], varying[1]) if len(varying) >= 2 else None


def executor_label(dask: str | None, workers: int) -> str:
    """Where the trials ran, for people: "2 local processes", "dask local (2 workers)"."""
    if dask:
        return f"dask {dask} ({workers} workers)"
    return "1 process" if workers == 1 else f"{workers} local processes"


def _identity(request: OptimizeRequest, space: SearchSpace, objective: Objective,
              prepared: PreparedBacktest) -> dict[str, Any]:
    settings = request_settings(request.backtest, prepared.config)
    settings.pop("risk", None)
    risk = request.backtest.risk
    return {
        "strategy": prepared.strategy_class,
        "space": {p.name: [str(v) for v in p.values()] for p in space.params},
        "constraint": str(space.constraint) if space.constraint else None,
        "objective": objective.spec, "maximize": objective.maximize,
        "method": request.method,
        "data": [data_facts(series).fingerprint for series, _ in prepared.series],
        "settings": settings,
        "risk": str(risk.expanduser().resolve()) if risk is not None else None,
    }


def _study_name(strategy_name: str, identity: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return f"{strategy_name}-{identity['method']}-{digest.hexdigest()[:12]}"


def _record(outcome: OptimizeOutcome, prepared: PreparedBacktest, started_ns: int) -> None:
    """Store the run and write ``run.json``; a failure costs a warning, never the results."""
    request = outcome.request
    best = outcome.best
    checks = outcome.checks
    study = {
        "method": request.method, "objective": outcome.objective.spec,
        "maximize": outcome.objective.maximize,
        "space": {p.name: [str(v) for v in p.values()] for p in outcome.space.params},
        "options": list(request.params), "heatmap": list(outcome.heatmap or ()),
        "constraint": request.constraint, "trials": len(outcome.results),
        "failed": outcome.failed, "seed": request.seed, "study": outcome.study,
        "resumed": outcome.resumed, "executor": outcome.executor,
        "best": {"number": best.number, "params": dict(best.params), "value": best.value},
        "deflated_sharpe": checks.dsr.dsr if checks.dsr else None,
        "deflated_sharpe_verdict": checks.dsr_text,
        "pbo": checks.pbo.pbo if checks.pbo else None, "pbo_verdict": checks.pbo_text,
    }
    artefacts = {"out_dir": str(outcome.out_dir.resolve())}
    artefacts.update({path.name: str(path.resolve()) for path in outcome.files})
    artefacts["run.json"] = str((outcome.out_dir / "run.json").resolve())
    run = outcome.best_result.run
    facts = RunFacts(
        kind=OPTIMIZE, status=FAILED if outcome.interrupted else FINISHED,
        strategy=request.backtest.strategy, strategy_name=outcome.strategy_name,
        params=dict(best.params),
        data=tuple(data_facts(s, loaded.report.source)
                   for s, loaded in zip(run.series, prepared.data, strict=False)),
        metrics=dict(outcome.best_result.metrics), started_ns=started_ns,
        ended_ns=time.time_ns(), strategy_class=prepared.strategy_class,
        settings=request_settings(request.backtest, prepared.config), artefacts=artefacts,
        study=study)
    outcome.run_id, written, outcome.run_warning = save_run(facts, outcome.out_dir)
    if written is not None:
        outcome.files.append(written)
