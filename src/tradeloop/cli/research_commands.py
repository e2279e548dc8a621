"""``tradeloop optimize``: parameter search on local processes or a Dask cluster."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tradeloop.cli import options as opt
from tradeloop.core.errors import ConfigError
from tradeloop.services.backtest import BacktestRequest
from tradeloop.services.optimize import OptimizeOutcome, OptimizeRequest, run_optimization

_out = Console(width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, soft_wrap=True)
_SHOWN = 10


class _SearchProgress:
    """A progress bar of trials with the best objective so far."""

    def __init__(self, objective: str) -> None:
        self._objective = objective
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("trials"), TimeRemainingColumn(), console=_err, transient=True)
        self._task: Any = None

    def __call__(self, done: int, total: int, best: float | None) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("", total=total)
        shown = "-" if best is None else f"{best:.4g}"
        self._progress.update(self._task, completed=done, total=total,
                              description=f"best {self._objective} {shown}")

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


def _heatmap_option(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if len(names) != 2 or not all(names):
        raise ConfigError(f"--heatmap {text!r}: name two parameters, e.g. --heatmap fast,slow")
    return names[0], names[1]


def optimize(
    strategy: opt.Strategy,
    param: opt.SearchParams,
    data: opt.Data = None,
    symbol: opt.Symbols = None,
    start: opt.Start = None,
    end: opt.End = None,
    constraint: opt.Constraint = None,
    objective: opt.Objective = "sharpe",
    minimize: opt.Minimize = False,
    method: opt.Method = "grid",
    trials: Annotated[int | None, typer.Option(
        help="Trials for random and tpe (the study's total, resumed ones included).")] = None,
    workers: opt.Workers = None,
    dask: opt.Dask = None,
    seed: opt.Seed = 0,
    study: Annotated[str | None, typer.Option(
        help="Optuna study name (default: one per experiment, so a rerun resumes it).")
    ] = None,
    heatmap: Annotated[str | None, typer.Option(
        help="The report heat map's two parameters, e.g. fast,slow.")] = None,
    cash: opt.Cash = "100000",
    currency: opt.Currency = "USD",
    account: opt.AccountKind = "margin",
    leverage: opt.Leverage = "1",
    commission: opt.Commission = None,
    slippage: opt.Slippage = None,
    risk: opt.RiskFile = None,
    timezone: opt.Timezone = "UTC",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for trials.csv, report.html and run.json.")] = None,
) -> None:
    """Search a strategy's parameters: every combination of a grid, or random or TPE
    sampling with Optuna, on local processes or a Dask cluster."""
    backtest = BacktestRequest(
        strategy=strategy, data=tuple(data or ()), symbols=tuple(symbol or ()), start=start,
        end=end, cash=cash, currency=currency, commission=commission, slippage=slippage,
        account=account, leverage=leverage, timezone=timezone, risk=risk)
    request = OptimizeRequest(
        backtest=backtest, params=tuple(param), constraint=constraint, objective=objective,
        minimize=minimize, method=method.strip().lower(), trials=trials,
        workers=opt.worker_count(workers, dask),
        dask=dask, seed=seed, study=study, heatmap=_heatmap_option(heatmap), out_dir=out)
    bar = _SearchProgress(objective)
    try:
        outcome = run_optimization(request, bar)
    finally:
        bar.close()
    _show(outcome)
    if outcome.interrupted:
        raise typer.Exit(130)


def _show(outcome: OptimizeOutcome) -> None:
    label = outcome.objective.label
    table = Table(title=f"{outcome.strategy_name}: {len(outcome.results)} trials, best first")
    names = outcome.space.names
    for column in ("#", *names, label, "return", "max dd", "trades"):
        table.add_column(column, justify="left" if column in names else "right")
    for rank, r in enumerate(outcome.results[:_SHOWN], start=1):
        m = r.outcome.metrics
        table.add_row(str(rank), *(str(r.params.get(n, "")) for n in names),
                      _number(r.value), _pct(m.get("total_return")),
                      _pct(m.get("max_drawdown")), _int(m.get("num_trades")))
    _out.print(table)
    rate = len(outcome.results) / outcome.elapsed if outcome.elapsed > 0 else math.nan
    _out.print(f"{len(outcome.results)} trials ({outcome.failed} failed) on {outcome.executor} "
               f"in {outcome.elapsed:.1f} s ({rate:.2f} trials/s)", highlight=False)
    if outcome.study:
        resumed = f", {outcome.resumed} resumed" if outcome.resumed else ""
        _out.print(f"study {outcome.study}{resumed}", highlight=False)
    if outcome.exhausted:
        _err.print("[yellow]note:[/yellow] the search stopped early: no untried combination "
                   "was left", highlight=False)
    _out.print(outcome.checks.dsr_text, highlight=False, soft_wrap=True)
    _out.print(outcome.checks.pbo_text, highlight=False, soft_wrap=True)
    for path in outcome.files:
        _out.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if outcome.run_id is not None:
        _out.print(f"run {outcome.run_id}", highlight=False)
    if outcome.run_warning is not None:
        _err.print(f"[yellow]warning:[/yellow] run {outcome.run_warning}", highlight=False)
    if outcome.interrupted:
        _err.print("interrupted: the finished trials are kept; run the same command again to "
                   "resume the study", highlight=False)


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2%}"


def _int(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{int(value):d}"
