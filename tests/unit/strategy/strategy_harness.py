"""Helpers of the strategy tests: hand-made bars and a strategy that runs a script per bar.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.events import OrderEvent
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy

T0 = 1_704_153_600_000_000_000  # 2024-01-02 00:00 UTC
DAY = NANOS_PER_DAY

Action = Callable[["Scripted"], Any]


def bars(
    *ohlc: tuple[float, float, float, float], symbol: str = "ABC", start: int = T0,
    step: int = DAY, volume: float | list[float] = 1e6,
) -> BarSeries:
    """Bars opening at ``start``, ``start + step``, ... with the given open/high/low/close."""
    rows = np.array(ohlc, dtype=np.float64)
    n = len(ohlc)
    vol = np.full(n, volume) if isinstance(volume, float | int) else np.array(volume, float)
    return BarSeries(
        symbol, start + np.arange(n, dtype=np.int64) * step, rows[:, 0].copy(),
        rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy(), vol, step,
    )


def flat_bars(*closes: float, symbol: str = "ABC", **kw: Any) -> BarSeries:
    """Bars that open, close and trade at one price each (plus a tiny range)."""
    return bars(*((c, c + 0.5, c - 0.5, c) for c in closes), symbol=symbol, **kw)


class Scripted(Strategy):
    """Runs ``script[i](self)`` on its i-th bar and keeps what each call returned.

    ``results`` maps the bar index to the action's return value; ``errors`` collects nothing:
    an exception stops the strategy as user code would.
    """

    def __init__(self, script: dict[int, Action] | None = None, strategy_id: str = "T") -> None:
        super().__init__(strategy_id)
        self.script = script or {}
        self.seen: list[Bar] = []
        self.results: dict[int, Any] = {}
        self.events: list[OrderEvent] = []

    def on_bar(self, bar: Bar) -> None:
        index = len(self.seen)
        self.seen.append(bar)
        action = self.script.get(index)
        if action is not None:
            self.results[index] = action(self)

    def on_order(self, event: OrderEvent) -> None:
        self.events.append(event)


def run(
    strategy: Strategy, *data: BarSeries, instruments: dict[str, Instrument] | None = None,
    venue: SimulatedVenueConfig | None = None, **config: Any,
) -> BacktestRun:
    """Backtest ``strategy`` on ``data`` (equities in USD unless ``instruments`` says else)."""
    engine = BacktestEngine(BacktestConfig(venue=venue or SimulatedVenueConfig(), **config))
    for series in data:
        inst = (instruments or {}).get(series.symbol) or Instrument.equity(series.symbol)
        engine.add_data(series, inst)
    engine.add_strategy(strategy)
    return engine.run()
