"""``tradeloop walkforward``: optimise on rolling or anchored in-sample windows and test each
window's best parameters on the out-of-sample window that follows."""

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
from tradeloop.core.time import ns_to_iso
from tradeloop.services.backtest import BacktestRequest
from tradeloop.services.walkforward import (
    WalkForwardOutcome,
    WalkForwardRequest,
    run_walkforward,
)

_out = Console(width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, soft_wrap=True)


class _WindowProgress:
    """A progress bar of one window's trials, labelled with the window."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("trials"), TimeRemainingColumn(), console=_err, transient=True)
        self._task: Any = None
        self._window = 0

    def __call__(self, window: int, windows: int, done: int, total: int) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("", total=total)
        if window != self._window:
            self._window = window
            self._progress.reset(self._task, total=total)
        self._progress.update(self._task, completed=done, total=total,
                              description=f"window {window} of {windows}")

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


def walkforward(
    strategy: opt.Strategy,
    param: opt.SearchParams,
    data: Annotated[list[str] | None, typer.Option(
        "--data", help="Bar file, stored symbol or bundled data name; repeat for more (the "
        "windows are cut on the first).")] = None,
    symbol: opt.Symbols = None,
    start: opt.Start = None,
    end: opt.End = None,
    windows: Annotated[int, typer.Option(help="Out-of-sample windows.")] = 4,
    mode: Annotated[str, typer.Option(
        help="rolling (in-sample windows of a fixed length) or anchored (all start at the "
        "first bar).")] = "rolling",
    train_ratio: Annotated[float, typer.Option(
        "--train-ratio", help="In-sample length as a multiple of the out-of-sample length.")
    ] = 3.0,
    constraint: opt.Constraint = None,
    objective: opt.Objective = "sharpe",
    minimize: opt.Minimize = False,
    method: opt.Method = "grid",
    trials: Annotated[int | None, typer.Option(
        help="Trials per window for random and tpe.")] = None,
    workers: opt.Workers = None,
    dask: opt.Dask = None,
    seed: opt.Seed = 0,
    study: Annotated[str | None, typer.Option(
        help="Prefix of the windows' Optuna studies (default: one per experiment, so a rerun "
        "resumes them).")] = None,
    cash: opt.Cash = "100000",
    currency: opt.Currency = "USD",
    account: opt.AccountKind = "margin",
    leverage: opt.Leverage = "1",
    commission: opt.Commission = None,
    slippage: opt.Slippage = None,
    risk: opt.RiskFile = None,
    timezone: opt.Timezone = "UTC",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for windows.csv, oos_equity.csv, oos_trades.csv, "
        "report.html and run.json.")] = None,
) -> None:
    """Walk-forward analysis: optimise on each in-sample window, trade the best parameters on
    the following out-of-sample window, and stitch the out-of-sample equity."""
    backtest = BacktestRequest(
        strategy=strategy, data=tuple(data or ()), symbols=tuple(symbol or ()), start=start,
        end=end, cash=cash, currency=currency, commission=commission, slippage=slippage,
        account=account, leverage=leverage, timezone=timezone, risk=risk)
    request = WalkForwardRequest(
        backtest=backtest, params=tuple(param), constraint=constraint, objective=objective,
        minimize=minimize, method=method.strip().lower(), trials=trials,
        workers=opt.worker_count(workers, dask),
        dask=dask, seed=seed, study=study, out_dir=out, windows=windows,
        mode=mode.strip().lower(), train_ratio=train_ratio)
    bar = _WindowProgress()
    try:
        outcome = run_walkforward(request, bar)
    finally:
        bar.close()
    _show(outcome)


def _show(outcome: WalkForwardOutcome) -> None:
    label = outcome.objective.label
    names = outcome.space.names
    table = Table(title=f"{outcome.strategy_name} walk-forward: {len(outcome.windows)} "
                        f"{outcome.request.mode} windows, in sample vs out of sample")
    for column in ("#", "out of sample", *names, f"IS {label}", f"OOS {label}", "IS ret",
                   "OOS ret", "trades", "WFE"):
        table.add_column(column, justify="left" if column in ("out of sample", *names)
                         else "right", no_wrap=column == "out of sample")
    for item in outcome.windows:
        w = item.window
        table.add_row(str(w.number),
                      f"{ns_to_iso(w.oos_start_ns)[:10]} .. {ns_to_iso(w.oos_end_ns)[:10]}",
                      *(str(item.best.params.get(n, "")) for n in names),
                      _number(item.best.value), _number(item.oos_value),
                      _pct(item.is_metrics.get("total_return")),
                      _pct(item.oos_metrics.get("total_return")),
                      _int(item.oos_metrics.get("num_trades")), _number(item.efficiency))
    _out.print(table)
    _out.print("WFE: walk-forward efficiency, out-of-sample over in-sample annualised return; "
               "trades: out of sample", highlight=False, soft_wrap=True)
    m = outcome.metrics
    _out.print(f"stitched out of sample: return {_pct(m.get('total_return'))}, Sharpe "
               f"{_number(m.get('sharpe'))}, max drawdown {_pct(m.get('max_drawdown'))}, "
               f"{len(outcome.trades)} trades; walk-forward efficiency "
               f"{_number(outcome.efficiency)}", highlight=False, soft_wrap=True)
    _out.print(f"searched on {outcome.executor} in {outcome.elapsed:.1f} s", highlight=False)
    for item in outcome.windows:
        _out.print(f"window {item.window.number}: {item.checks.dsr_text}; "
                   f"{item.checks.pbo_text}", highlight=False, soft_wrap=True)
    for path in outcome.files:
        _out.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if outcome.run_id is not None:
        _out.print(f"run {outcome.run_id}", highlight=False)
    if outcome.run_warning is not None:
        _err.print(f"[yellow]warning:[/yellow] run {outcome.run_warning}", highlight=False)


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2%}"


def _int(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{int(value):d}"
