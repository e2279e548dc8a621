"""PnL in the account currency: a USDJPY backtest in a USD account books each fill's JPY PnL at
the rate of that fill, and a cross (EURJPY) converts with the latest USDJPY price known at the
fill, never a later one."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from engine_harness import HOUR, T0

from tradeloop.analytics.results import build_result
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy


def fx_bars(symbol: str, opens: list[float], closes: list[float], step: int = HOUR) -> BarSeries:
    o = np.array(opens)
    c = np.array(closes)
    ts = T0 + np.arange(len(o), dtype=np.int64) * step
    return BarSeries(symbol, ts, o, np.maximum(o, c) + 0.01, np.minimum(o, c) - 0.01, c,
                     np.zeros(len(o)), step, "test")


class BuyThenSell(Strategy):
    """Buys ``size`` on bar ``entry`` and closes on bar ``exit`` (fills at the next opens)."""

    entry: int = 0
    exit: int = 2
    size: float = 100_000

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        if bar.symbol != self.symbol:
            return
        if self.count == self.entry:
            self.buy(self.size)
        elif self.count == self.exit:
            self.close()
        self.count += 1


def test_usdjpy_pnl_is_booked_in_usd_at_each_fills_rate() -> None:
    # buy 100,000 USDJPY at the open of bar 1 (150.000), sell at the open of bar 3 (151.500)
    bars = fx_bars("USDJPY", [149.9, 150.0, 150.8, 151.5, 151.2],
                   [150.02, 150.7, 151.45, 151.3, 151.1])
    engine = BacktestEngine(BacktestConfig(cash=Decimal(100_000), currency="USD"))
    engine.add_data(bars, Instrument.fx_pair("USDJPY"))
    engine.add_strategy(BuyThenSell())
    run = engine.run()
    buy, sell = run.fills
    assert (buy.last_px, sell.last_px) == (Decimal("150.000"), Decimal("151.500"))
    jpy_pnl = Decimal(100_000) * (Decimal("151.500") - Decimal("150.000"))  # 150,000 JPY
    usd_pnl = jpy_pnl / Decimal("151.500")  # at the closing fill's own rate: 990.10 USD
    assert run.final_balance - Decimal(100_000) == pytest.approx(usd_pnl, abs=Decimal("1e-9"))
    result = build_result(run)
    (trade,) = result.trades
    assert trade.pnl == pytest.approx(float(usd_pnl), abs=1e-6)  # the report agrees with the books
    assert result.metrics["final_equity"] == pytest.approx(float(run.final_equity))
    # the equity curve is in USD too: flat before the entry, +990.10 after the exit
    assert run.equity[0] == pytest.approx(100_000)
    assert run.equity[-1] == pytest.approx(100_000 + float(usd_pnl))


def test_a_cross_converts_with_the_rate_known_at_the_fill_never_a_later_one() -> None:
    # EURJPY bought at the open of bar 2 (160) and sold at the open of bar 4 (162). USDJPY is 150
    # until its bar 4 closes at 300, an hour after that sale: the sale converts at 150, the last
    # USDJPY price known when it happened. USDJPY is added first, so its bar 4 is handled before
    # EURJPY's bar 4 and a careless loop would already see the 300.
    eurjpy = fx_bars("EURJPY", [160.0, 160.0, 160.0, 161.0, 162.0, 162.0],
                     [160.0, 160.0, 161.0, 162.0, 162.0, 162.0])
    usdjpy = fx_bars("USDJPY", [150.0] * 6, [150.0, 150.0, 150.0, 150.0, 300.0, 300.0])
    engine = BacktestEngine(BacktestConfig(cash=Decimal(100_000), currency="USD"))
    engine.add_data(usdjpy, Instrument.fx_pair("USDJPY"))
    engine.add_data(eurjpy, Instrument.fx_pair("EURJPY"))
    engine.add_strategy(BuyThenSell(size=10_000, entry=1, exit=3), symbols=["EURJPY"])
    run = engine.run()
    assert not run.failures
    buy, sell = run.fills
    assert (buy.ts, buy.last_px) == (T0 + 2 * HOUR, Decimal("160.000"))
    assert (sell.ts, sell.last_px) == (T0 + 4 * HOUR, Decimal("162.000"))
    jpy_pnl = Decimal(10_000) * (Decimal("162.000") - Decimal("160.000"))  # 20,000 JPY
    expected = jpy_pnl / Decimal(150)  # 133.33 USD, not 66.67 at the later 300
    assert run.final_balance - Decimal(100_000) == pytest.approx(expected, abs=Decimal("1e-9"))
    (trade,) = build_result(run).trades
    assert trade.pnl == pytest.approx(float(expected), abs=1e-6)
