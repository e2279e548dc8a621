"""Moving-average crossover, long only: buy when the fast SMA of closes crosses above the slow
one while flat; close when it crosses below while long."""

from __future__ import annotations

from tradeloop.indicators import SMA
from tradeloop.model.data import Bar
from tradeloop.strategy import Cross, Strategy, crossed_above, crossed_below


class SmaCross(Strategy):
    """Long-only SMA crossover."""

    fast: int = 10
    slow: int = 30
    size: float = 1

    def on_start(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        self.fast_ma = self.indicator(SMA(self.fast))
        self.slow_ma = self.indicator(SMA(self.slow))
        self.wake_when(Cross(self.fast_ma, self.slow_ma))  # on_bar runs only where they cross

    def on_bar(self, bar: Bar) -> None:
        if crossed_above(self.fast_ma, self.slow_ma):
            if self.position().is_flat:
                self.buy(self.size)
        elif crossed_below(self.fast_ma, self.slow_ma) and self.position().is_long:
            self.close()
