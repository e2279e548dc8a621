"""Precomputed (vectorised) indicators give the very same trades as bar-by-bar updates."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache

import pytest

from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.indicators import ATR, MACD, BollingerBands
from tradeloop.model.data import Bar, BarSeries
from tradeloop.strategy import Strategy, crossed_above, crossed_below


@cache
def goog() -> BarSeries:
    return load_bars(bundled_path("GOOG")).bars


class MacdBandsAtr(Strategy):
    """Long when the MACD histogram turns up above the middle band, with an ATR stop; out on
    the upper band or a histogram turn down. Notes every indicator value it reads."""

    size: float = 10

    def on_start(self) -> None:
        self.macd = self.indicator(MACD(12, 26, 9))
        self.bands = self.indicator(BollingerBands(20, 2.0))
        self.atr = self.indicator(ATR(14))
        self.seen: list[tuple[float, ...]] = []
        self.stop_order = None

    def on_bar(self, bar: Bar) -> None:
        m, b = self.macd, self.bands
        self.seen.append((m.value, m.prev, m.signal, m.histogram, b.value, b.upper, b.lower,
                          self.atr.value, float(m.count), float(self.atr.ready)))
        if not (m.ready and b.ready and self.atr.ready):
            return
        position = self.position()
        if position.is_flat and not self.open_orders():
            if crossed_above(m, m.signal) and bar.close > b.value:
                self.buy(self.size)
                self.stop_order = self.sell(
                    self.size, stop=bar.close - 2 * self.atr.value, tag="atr_stop"
                )
        elif position.is_long and (bar.close > b.upper or crossed_below(m, m.signal)):
            if self.stop_order is not None and self.stop_order.is_open:
                self.cancel(self.stop_order)
            self.close()


def backtest(strategy: Strategy, precompute: bool) -> BacktestRun:
    engine = BacktestEngine(BacktestConfig(precompute_indicators=precompute))
    engine.add_data(goog())
    engine.add_strategy(strategy)
    return engine.run()


def trades(run: BacktestRun) -> list[tuple[int, str, str, Decimal, Decimal]]:
    return [(f.ts, f.client_order_id, f.side, f.last_qty, f.last_px) for f in run.fills]


def test_sma_cross_trades_identically_either_way() -> None:
    fast, slow = backtest(SmaCross(), True), backtest(SmaCross(), False)
    assert len(fast.fills) >= 20  # the comparison means something
    assert trades(fast) == trades(slow)
    assert fast.final_equity == slow.final_equity
    assert fast.equity.tolist() == slow.equity.tolist()


@pytest.mark.parametrize("params", [{}, {"fast": 5, "slow": 12}])
def test_sma_cross_parameters_too(params: dict[str, int]) -> None:
    assert trades(backtest(SmaCross(**params), True)) == trades(
        backtest(SmaCross(**params), False)
    )


def test_macd_bands_atr_trade_identically_either_way() -> None:
    a, b = MacdBandsAtr(), MacdBandsAtr()
    fast, slow = backtest(a, True), backtest(b, False)
    assert fast.failures == [] and slow.failures == []
    assert len(fast.fills) >= 20
    assert trades(fast) == trades(slow)
    assert fast.final_equity == slow.final_equity
    assert len(a.seen) == len(b.seen) == len(goog())
    for k, (x, y) in enumerate(zip(a.seen, b.seen, strict=True)):
        for u, v in zip(x, y, strict=True):
            assert (math.isnan(u) and math.isnan(v)) or u == pytest.approx(v, rel=1e-9,
                                                                           abs=1e-9), k


def test_precomputed_indicators_become_ready_at_their_warmup() -> None:
    s = MacdBandsAtr()
    backtest(s, True)
    ready_at = next(k for k, row in enumerate(s.seen) if row[-1] == 1.0)
    assert ready_at == 14  # ATR(14): the 15th bar (TA-Lib's convention)
    assert s.seen[0][8] == 1.0 and s.seen[-1][8] == float(len(goog()))
    assert math.isnan(s.seen[33][0]) is False and math.isnan(s.seen[0][0])
