"""``tradeloop report RUN``: the self-contained HTML report of a recorded backtest."""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradeloop.cli.render import LazyProgress
from tradeloop.services.reports import report_for_run

_out = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def report(
    run_id: Annotated[str, typer.Argument(
        help="A backtest's run id, or a unique start of it (tradeloop runs list).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="The HTML file to write (or a folder for report.html); default "
        "report.html in the run's result folder.")] = None,
    open_report: Annotated[bool, typer.Option(
        "--open", help="Open the report in the web browser.")] = False,
) -> None:
    """Run a recorded backtest again on its data (checked unchanged) and write its HTML report,
    which opens offline."""
    bar = LazyProgress(_err, f"report {run_id}")
    try:
        outcome = report_for_run(run_id, out, progress=bar)
    finally:
        bar.close()
    for warning in outcome.warnings:
        _err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    _out.print(str(outcome.path), highlight=False)
    if open_report:
        webbrowser.open(outcome.path.resolve().as_uri())
