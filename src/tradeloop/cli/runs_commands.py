"""``tradeloop runs list|show|compare``: the backtests (and sessions) recorded in the audit
database."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tradeloop.core.time import ns_to_iso, timeframe_label
from tradeloop.services.runs import (
    RUN_KINDS,
    FieldDifference,
    MetricRow,
    RunDetail,
    RunSummary,
    compare_runs,
    get_run,
    list_runs,
    metric_rows,
)

runs_app = typer.Typer(
    no_args_is_help=True,
    help="Backtests and node sessions recorded in the audit database: list, show, compare.",
)
# pipes and CI get whole rows, unless COLUMNS says otherwise
_out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
_LIST_METRICS = (("return", "total_return", "pct"), ("Sharpe", "sharpe", "ratio"),
                 ("max DD", "max_drawdown", "pct"), ("trades", "num_trades", "int"))


def format_metric(value: float | None, kind: str) -> str:
    """A metric as the tables show it: ``12.34 %``, ``1.234``, ``1,234.56``, ``-`` for none."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{100 * value:,.2f} %"
    if kind == "ratio":
        return f"{value:,.3f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "days":
        return f"{value:,.0f} days"
    if kind == "money":
        return f"{value:,.2f}"
    return f"{value:,.6g}"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, default=str)


def _short(text: str) -> str:
    """A fingerprint cut to 16 hex digits: enough to tell two apart in a table."""
    return text[:23] + "…" if text.startswith("sha256:") and len(text) > 23 else text


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={_value(value)}" for name, value in params.items())


def _time(ns: int | None) -> str:
    return "-" if ns is None else ns_to_iso(ns)[:19].replace("T", " ")


def _data(run: RunSummary) -> str:
    return "\n".join(f"{d.symbol} {d.range_text}" for d in run.data) or "-"


def _status(status: str) -> Text:
    style = {"failed": "red", "running": "yellow"}.get(status, "")
    return Text(status, style=style)


def _kind(run: RunSummary) -> Text:
    """The kind, and the status unless the run simply finished."""
    if run.status == "finished":
        return Text(run.kind)
    return Text.assemble(run.kind, " ", _status(run.status))


@runs_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.")
                     ] = 20,
    kind: Annotated[str | None, typer.Option(
        help=f"Only runs of this kind: {', '.join(RUN_KINDS)}.")] = None,
) -> None:
    """The recorded runs, newest first: strategy, parameters, data and key metrics."""
    runs = list_runs(limit, kind)
    if not runs:
        what = f"no {kind} runs" if kind else "no runs"
        _out.print(f"{what} recorded yet: tradeloop backtest records one", highlight=False)
        return
    table = Table(title="runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True)  # the one column never cut: it is what show takes
    for column, narrowest in (("started (UTC)", 10), ("kind", 8), ("strategy", 8),
                              ("params", 7), ("data", 10)):
        table.add_column(column, overflow="fold", min_width=narrowest)
    for label, _key, _format in _LIST_METRICS:
        table.add_column(label, justify="right", no_wrap=True, min_width=max(len(label), 7))
    for run in runs:
        table.add_row(
            run.run_id, _time(run.started_ns)[:16], _kind(run), run.strategy,
            _params(run.params) or "-", _data(run),
            *(format_metric(run.metric(key), fmt) for _label, key, fmt in _LIST_METRICS),
        )
    _out.print(table)


def _facts_table(run: RunDetail) -> Table:
    table = Table(title=f"run {run.run_id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    duration = (f" ({(run.ended_ns - run.started_ns) / 1e9:,.2f} s)"
                if run.ended_ns is not None else "")
    rows: list[tuple[str, str | Text]] = [
        ("kind", run.kind), ("mode", run.mode), ("status", _status(run.status)),
        ("started", _time(run.started_ns) + " UTC"),
        ("ended", _time(run.ended_ns) + (" UTC" + duration if run.ended_ns else "")),
        ("code", run.code_version or "-"), ("strategy", run.strategy or "-"),
    ]
    if run.strategy_spec:
        rows.append(("given as", run.strategy_spec))
    if run.strategy_class:
        rows.append(("class", run.strategy_class))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _pairs_table(title: str, items: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("name", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in items:
        table.add_row(name, _value(value))
    return table


def _metrics_table(rows: tuple[MetricRow, ...], runs: tuple[RunSummary, ...]) -> Table:
    several = len(runs) > 1
    table = Table(title="metrics" + (" (best in green)" if several else ""),
                  title_justify="left", show_header=several)
    table.add_column("metric", style="bold")
    for run in runs:
        table.add_column(f"{run.run_id}\n{run.strategy}" if several else "value",
                         justify="right", no_wrap=True)
    for row in rows:
        cells = [Text(format_metric(value, row.kind),
                      style="bold green" if k in row.best else "")
                 for k, value in enumerate(row.values)]
        table.add_row(row.label, *cells)
    return table


@runs_app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="A run id, or a unique start of it.")],
) -> None:
    """Everything recorded about one run: settings, data, metrics and where its files are."""
    run = get_run(run_id)
    _out.print(_facts_table(run))
    if run.params:
        _out.print(_pairs_table("parameters", list(run.params.items())))
    if run.data:
        data = Table(title="data", title_justify="left")
        for column in ("symbol", "timeframe", "first", "last", "bars", "source", "fingerprint"):
            data.add_column(column, justify="right" if column == "bars" else "left",
                            overflow="fold")
        for d in run.data:
            data.add_row(d.symbol, timeframe_label(d.timeframe_ns) or "-", ns_to_iso(d.first_ns),
                         ns_to_iso(d.last_ns), f"{d.bars:,}", d.source or "-", d.fingerprint)
        _out.print(data)
    settings = run.setting_items()
    if settings:
        _out.print(_pairs_table("settings", settings))
    if run.study is not None:
        _out.print(_pairs_table("study", list(run.study.items())))
    rows = metric_rows([run])
    if rows:
        _out.print(_metrics_table(rows, (run,)))
    for failure in run.failures:
        _out.print(f"[red]failure:[/red] {failure}", highlight=False)
    if run.artefacts:
        _out.print(_pairs_table("artefacts", list(run.artefacts.items())))


def _difference_table(title: str, differences: tuple[FieldDifference, ...],
                      runs: tuple[RunDetail, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("", style="bold")
    for run in runs:
        table.add_column(run.run_id, overflow="fold")
    for difference in differences:
        table.add_row(difference.name, *(_short(_value(v)) for v in difference.values))
    return table


@runs_app.command("compare")
def compare_command(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique starts).")],
) -> None:
    """Runs side by side: metrics (best highlighted), then the parameters, data and settings
    that differ."""
    comparison = compare_runs(run_ids)
    _out.print(_metrics_table(comparison.metrics, comparison.runs))
    sections = (("parameters that differ", comparison.params, "the same parameters"),
                ("data that differs", comparison.data, "the same data"),
                ("settings that differ", comparison.settings, "the same settings"))
    for title, differences, same in sections:
        if differences:
            _out.print(_difference_table(title, differences, comparison.runs))
        else:
            _out.print(f"{same} in every run", highlight=False)
