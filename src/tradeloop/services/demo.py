"""The demo: every bundled example strategy on its bundled data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from tradeloop.examples import EXAMPLES
from tradeloop.services.backtest import BacktestOutcome, BacktestRequest, Progress, run_backtest


def run_demo(
    out_root: Path, cash: str = "100000", progress: Callable[[str], Progress | None] | None = None
) -> Iterator[BacktestOutcome]:
    """Backtest each bundled example on its bundled data, writing results under ``out_root``.

    Yields
    ------
    BacktestOutcome
        One per example, in the registry's order.
    """
    for name in EXAMPLES:
        request = BacktestRequest(strategy=name, cash=cash, out_dir=out_root / name)
        yield run_backtest(request, progress(name) if progress else None)
