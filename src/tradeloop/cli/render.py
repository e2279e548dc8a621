"""Rich rendering of results for the terminal."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tradeloop.analytics.report import METRIC_ROWS, format_metric
from tradeloop.core.time import ns_to_iso
from tradeloop.services.backtest import BacktestOutcome


def denials_table(outcome: BacktestOutcome, limit: int = 20) -> Table | None:
    """The orders the risk gate refused (the first ``limit``), or None when there were none."""
    denials = outcome.result.denials
    if not denials:
        return None
    counts: dict[str, int] = {}
    for denial in denials:
        counts[denial.code or "-"] = counts.get(denial.code or "-", 0) + 1
    by_code = ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items()))
    shown = "" if len(denials) <= limit else f", the first {limit} shown"
    table = Table(title=f"Orders denied by the risk gate: {len(denials):,} ({by_code}{shown})")
    for column in ("time", "strategy", "symbol", "side", "quantity", "code", "reason"):
        table.add_column(column, justify="right" if column == "quantity" else "left")
    for denial in denials[:limit]:
        table.add_row(ns_to_iso(denial.ts), denial.strategy_id, denial.symbol, denial.side,
                      f"{denial.quantity:,f}", denial.code, denial.reason)
    return table


def summary_table(outcome: BacktestOutcome) -> Table:
    """The metrics of one backtest as a two-column table."""
    result = outcome.result
    run = result.run
    symbols = ", ".join(run.symbols)
    first, last = run.timeline[0], run.timeline[-1]
    from tradeloop.core.time import ns_to_iso

    table = Table(
        title=f"{outcome.strategy_name} on {symbols}",
        caption=f"{ns_to_iso(int(first))[:10]} to {ns_to_iso(int(last))[:10]}, "
        f"{run.bars:,} bars",
        show_header=False,
    )
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for label, key, kind in METRIC_ROWS:
        value: Any = result.final_equity if key == "final_equity" else result.metrics.get(key)
        table.add_row(label, format_metric(value, kind))
    return table


def comparison_table(outcomes: list[BacktestOutcome]) -> Table:
    """One line per backtest: the figures a trader compares first."""
    table = Table(title="Bundled examples")
    for header in ("strategy", "data", "trades", "return", "CAGR", "Sharpe", "max drawdown",
                   "final equity"):
        table.add_column(
            header, justify="left" if header in ("strategy", "data") else "right", no_wrap=True
        )
    for outcome in outcomes:
        m = outcome.result.metrics
        table.add_row(
            outcome.strategy_name, ", ".join(outcome.result.run.symbols),
            format_metric(m.get("num_trades"), "int"), format_metric(m.get("total_return"), "pct"),
            format_metric(m.get("cagr"), "pct"), format_metric(m.get("sharpe"), "ratio"),
            format_metric(m.get("max_drawdown"), "pct"),
            format_metric(outcome.result.final_equity, "money"),
        )
    return table


class LazyProgress:
    """A progress bar that appears only when a run lasts more than ``delay`` seconds."""

    def __init__(self, console: Console, label: str, delay: float = 1.0,
                 unit: str = "bars") -> None:
        self._console = console
        self._label = label
        self._unit = unit
        self._delay = delay
        self._started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            if time.perf_counter() - self._started < self._delay or done >= total:
                return
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn(f"{{task.completed:,}}/{{task.total:,}} {self._unit}"),
                TimeRemainingColumn(),
                console=self._console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Remove the bar from the screen."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
