"""Helpers shared by the example-strategy tests: run a strategy through the backtest engine.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np

from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.examples import EXAMPLE_DATA, load_example
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.strategy import Strategy


def run_strategy(
    strategy: Strategy, series: BarSeries, cash: Decimal = Decimal(100_000),
    **config: Any,
) -> BacktestRun:
    engine = BacktestEngine(BacktestConfig(cash=cash, **config))
    engine.add_data(series)
    engine.add_strategy(strategy)
    return engine.run()


def bundled_series(name: str) -> BarSeries:
    return load_bars(bundled_path(name)).bars


def run_example(name: str, cash: Decimal = Decimal(100_000), **params: Any) -> BacktestRun:
    strategy = load_example(name)(**params)
    return run_strategy(strategy, bundled_series(EXAMPLE_DATA[name]), cash)


def round_trips(fills: list[OrderFilled]) -> list[tuple[OrderFilled, OrderFilled]]:
    """(opening fill, closing fill) of each position that went from flat back to flat."""
    trips: list[tuple[OrderFilled, OrderFilled]] = []
    net = Decimal(0)
    opening: OrderFilled | None = None
    for fill in fills:
        before = net
        net += fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        if before == 0:
            opening = fill
        elif net == 0:
            assert opening is not None
            trips.append((opening, fill))
    return trips


@cache
def default_run(name: str) -> BacktestRun:
    """A backtest of a bundled example with default parameters, computed once per session."""
    return run_example(name)


def held_bars(fills: list[OrderFilled], ts: np.ndarray) -> np.ndarray:
    """True at each bar during which a position was open (opened at or before its open and not
    closed before its close); bar times ``ts`` are the bars' opens."""
    held = np.zeros(ts.shape[0], dtype=bool)
    net = Decimal(0)
    opened_at = 0
    for fill in fills:
        before = net
        net += fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        i = int(np.searchsorted(ts, fill.ts))
        if before == 0 and net != 0:
            opened_at = i
        elif before != 0 and net == 0:
            held[opened_at:i] = True
    if net != 0:
        held[opened_at:] = True
    return held
