"""The ``tradeloop`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradeloop.cli import options as opt
from tradeloop.cli.api_commands import serve
from tradeloop.cli.broker_commands import broker_app
from tradeloop.cli.calendar_commands import calendar_app
from tradeloop.cli.data_commands import data_app
from tradeloop.cli.node_commands import doctor, live, order, paper, replay, status
from tradeloop.cli.notify_commands import notify_app
from tradeloop.cli.render import LazyProgress, comparison_table, denials_table, summary_table
from tradeloop.cli.report_commands import report
from tradeloop.cli.research_commands import optimize
from tradeloop.cli.risk_commands import flatten, kill, resume
from tradeloop.cli.runs_commands import runs_app
from tradeloop.cli.token_commands import token_app
from tradeloop.cli.venue_commands import venue_app
from tradeloop.cli.walkforward_commands import walkforward
from tradeloop.config.home import home_dir
from tradeloop.core.errors import TradeloopError, UserError
from tradeloop.core.logging import setup_logging
from tradeloop.services.backtest import (
    BacktestOutcome,
    BacktestRequest,
    parse_params,
    run_backtest,
)
from tradeloop.services.demo import run_demo
from tradeloop.services.reports import backtest_report

app = typer.Typer(
    name="tradeloop", add_completion=False, no_args_is_help=True,
    help="Write a strategy once; backtest, paper trade and run it live on one kernel.",
)
app.add_typer(data_app, name="data")
app.add_typer(calendar_app, name="calendar")
app.add_typer(venue_app, name="venue")
app.add_typer(runs_app, name="runs")
app.add_typer(token_app, name="token")
app.add_typer(notify_app, name="notify")
app.add_typer(broker_app, name="broker")
app.command()(paper)
app.command()(live)
app.command()(order)
app.command()(doctor)
app.command()(replay)
app.command()(status)
app.command()(kill)
app.command()(resume)
app.command()(flatten)
app.command()(optimize)
app.command()(serve)
app.command()(report)
app.command()(walkforward)
console = Console(width=None if sys.stdout.isatty() else 120)  # pipes and CI get full rows
errors = Console(stderr=True, soft_wrap=True)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
) -> None:
    setup_logging(
        level="INFO" if verbose else "CRITICAL", json_lines=False,
        log_file=home_dir() / "logs" / "tradeloop.log",
    )


def _report(outcome: BacktestOutcome) -> None:
    for loaded in outcome.data:
        report = loaded.report
        if report.clean:
            console.print(f"[dim]data {report.summary()}[/dim]", highlight=False, soft_wrap=True)
        else:
            errors.print(f"[yellow]data[/yellow] {report.summary()}", highlight=False)
    console.print(summary_table(outcome))
    denials = denials_table(outcome)
    if denials is not None:
        console.print(denials)
    console.print(f"results in {outcome.out_dir}")
    if outcome.run_id is not None:
        console.print(f"run {outcome.run_id}", highlight=False)
    if outcome.run_warning is not None:
        errors.print(f"[yellow]warning:[/yellow] run {outcome.run_warning}", highlight=False)
    for failure in outcome.result.run.failures:
        errors.print(f"[red]error:[/red] {failure}")


@app.command()
def backtest(
    strategy: opt.Strategy,
    data: Annotated[list[str] | None, typer.Option(
        "--data", help="Bar file (CSV or Parquet), stored symbol (EURUSD, EURUSD@1h) or "
        "bundled data name; repeat for more.")] = None,
    symbol: opt.Symbols = None,
    start: opt.Start = None,
    end: opt.End = None,
    cash: opt.Cash = "100000",
    currency: opt.Currency = "USD",
    account: opt.AccountKind = "margin",
    leverage: opt.Leverage = "1",
    commission: opt.Commission = None,
    slippage: opt.Slippage = None,
    volume_limit: Annotated[float | None, typer.Option(
        help="Fill at most this fraction of a bar's volume per order and bar.")] = None,
    conflict: Annotated[str, typer.Option(
        help="Stop-loss and take-profit in one bar: stop_first, target_first or path.")
    ] = "stop_first",
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Strategy parameter name=value; repeat for more.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for the result files.")] = None,
    repair: Annotated[bool, typer.Option(
        help="Drop or sort bad rows instead of stopping at the first.")] = False,
    timezone: opt.Timezone = "UTC",
    risk: opt.RiskFile = None,
    html_report: Annotated[bool, typer.Option(
        "--report", help="Also write report.html (opens offline) into the result folder.")
    ] = False,
) -> None:
    """Backtest a strategy on historical bars and write its results."""
    request = BacktestRequest(
        strategy=strategy, data=tuple(data or ()), symbols=tuple(symbol or ()), start=start,
        end=end, cash=cash, currency=currency, commission=commission, slippage=slippage,
        conflict=conflict, account=account, leverage=leverage, volume_limit=volume_limit,
        params=parse_params(param or []), out_dir=out, repair=repair, timezone=timezone,
        risk=risk,
    )
    bar = LazyProgress(errors, strategy)
    try:
        outcome = run_backtest(request, bar)
    finally:
        bar.close()
    _report(outcome)
    if html_report:
        console.print(f"report {backtest_report(outcome)}", highlight=False, soft_wrap=True)
    if outcome.result.run.failures:
        raise typer.Exit(1)


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for the result files.")] = None,
) -> None:
    """Backtest every bundled example strategy on the bundled data."""
    root = out or home_dir() / "demo"
    outcomes = []
    for outcome in run_demo(root, progress=lambda name: LazyProgress(errors, name)):
        _report(outcome)
        outcomes.append(outcome)
    console.print(comparison_table(outcomes))
    if any(o.result.run.failures for o in outcomes):
        raise typer.Exit(1)


def main() -> None:
    """Entry point: run the CLI, turning user mistakes into one clear line on stderr."""
    try:
        code = app(standalone_mode=False)  # click returns an Exit's code in this mode
    except UserError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except TradeloopError as exc:  # a refusal that is not a typo: reconciliation, venue down
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(3)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
