"""Command-line options that ``backtest``, ``optimize`` and ``walkforward`` share, spelled and
explained once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Strategy = Annotated[str, typer.Argument(
    help="module:Class, a path to a .py file, or a bundled example (sma_cross, ...).")]
Data = Annotated[list[str] | None, typer.Option(
    "--data", help="Bar file (CSV or Parquet), stored symbol (EURUSD, EURUSD@1h) or bundled "
    "data name; repeat for more.")]
Symbols = Annotated[list[str] | None, typer.Option(
    "--symbol", help="Symbol of each --data file, in order.")]
Start = Annotated[str | None, typer.Option("--from", help="First date (UTC).")]
End = Annotated[str | None, typer.Option("--to", help="Last date, inclusive (UTC).")]
Cash = Annotated[str, typer.Option(help="Starting cash.")]
Currency = Annotated[str, typer.Option(help="Account currency.")]
AccountKind = Annotated[str, typer.Option(help="cash or margin.")]
Leverage = Annotated[str, typer.Option(help="Margin account leverage.")]
Commission = Annotated[str | None, typer.Option(
    help="e.g. 0.1%, 0.005/share, 7/lot, min=1 (comma-separated).")]
Slippage = Annotated[str | None, typer.Option(help="e.g. 1tick, 0.05%, spread.")]
RiskFile = Annotated[Path | None, typer.Option(
    "--risk", help="TOML file with a [risk] table: the limits to apply.")]
Timezone = Annotated[str, typer.Option(help="Timezone of naive timestamps in the data.")]

SearchParams = Annotated[list[str], typer.Option(
    "--param", help="name=start:stop[:step] (a range, both ends included), name=a,b,c or "
    "name=value; repeat for more.")]
Constraint = Annotated[str | None, typer.Option(
    help='A condition the parameters must meet, e.g. "fast < slow".')]
Objective = Annotated[str, typer.Option(
    help="sharpe, sortino, calmar, return, profit_factor or custom:module:function.")]
Minimize = Annotated[bool, typer.Option(
    "--minimize", help="Lower objective is better (a custom loss).")]
Method = Annotated[str, typer.Option(help="grid, random or tpe.")]
Workers = Annotated[int | None, typer.Option(help="Worker processes (default: every core).")]
Dask = Annotated[str | None, typer.Option(
    "--dask", help="tcp://HOST:8786 to use a Dask cluster, or local to start one.")]
Seed = Annotated[int, typer.Option(help="Seed of the random and TPE samplers.")]


def worker_count(workers: int | None, dask: str | None) -> int:
    """``--workers``, or its default: two for a local Dask cluster, else every core."""
    from tradeloop.optimize.executors import default_workers

    if workers is not None:
        return workers
    return 2 if dask == "local" else default_workers()
