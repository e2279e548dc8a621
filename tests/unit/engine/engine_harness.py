"""Helpers of the backtest-engine tests: hand-made bar series and a recording strategy.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.events import OrderFilled
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy

T0 = 1_704_153_600_000_000_000  # Tuesday 2024-01-02 00:00 UTC
DAY = NANOS_PER_DAY
HOUR = NANOS_PER_HOUR


def series(
    symbol: str, closes: Sequence[float], start: int = T0, step: int = DAY,
    times: Sequence[int] | None = None,
) -> BarSeries:
    """Bars whose open is the previous close (the first opens at its close), +-1 range."""
    close = np.array(closes, dtype=np.float64)
    open_ = np.concatenate([close[:1], close[:-1]])
    ts = (np.array(times, dtype=np.int64) if times is not None
          else start + np.arange(len(closes), dtype=np.int64) * step)
    return BarSeries(
        symbol, ts, open_, np.maximum(open_, close) + 1, np.minimum(open_, close) - 1, close,
        np.full(len(closes), 1e6), step,
    )


class Recorder(Strategy):
    """Notes every bar and fill it sees with the clock time; runs optional per-bar actions.

    ``act(strategy, bar, index)`` is called after the bar is noted.
    """

    def __init__(
        self, strategy_id: str = "R",
        act: Callable[[Recorder, Bar, int], Any] | None = None, **params: Any,
    ) -> None:
        super().__init__(strategy_id, **params)
        self.act = act
        self.bars: list[tuple[str, int, int]] = []
        self.fills: list[OrderFilled] = []
        self.log: list[tuple[str, int]] = []  # ("bar:SYM@ts" or an event name, clock time)
        self.started = self.stopped = False

    def on_start(self) -> None:
        self.started = True

    def on_bar(self, bar: Bar) -> None:
        self.bars.append((bar.symbol, bar.ts, self.now_ns))
        self.log.append((f"bar:{bar.symbol}@{bar.ts}", self.now_ns))
        if self.act is not None:
            self.act(self, bar, len(self.bars) - 1)

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)

    def on_stop(self) -> None:
        self.stopped = True


def engine_with(
    *data: BarSeries, config: BacktestConfig | None = None,
) -> BacktestEngine:
    engine = BacktestEngine(config or BacktestConfig())
    for s in data:
        engine.add_data(s, Instrument.equity(s.symbol))
    return engine
