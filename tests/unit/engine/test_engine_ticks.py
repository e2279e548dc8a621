"""Backtests on quote and trade ticks: the same kernel, fills at the next tick."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.indicators import SMA
from tradeloop.model.data import QuoteSeries, QuoteTick, TradeSeries, TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy

T0 = 1_704_186_000_000_000_000  # 2024-01-02 09:00 UTC
SEC = 1_000_000_000


def quotes(symbol: str, bids: list[float], spread: float = 0.02, start: int = T0) -> QuoteSeries:
    bid = np.array(bids)
    n = len(bids)
    return QuoteSeries(
        symbol, start + np.arange(n, dtype=np.int64) * SEC, bid, bid + spread,
        np.full(n, 500.0), np.full(n, 500.0),
    )


class TickTrader(Strategy):
    def __init__(self, plan: dict[int, object], **kw: object) -> None:
        super().__init__(**kw)
        self.plan = plan
        self.seen: list[QuoteTick | TradeTick] = []
        self.fills: list[OrderFilled] = []

    def on_tick(self, tick: QuoteTick | TradeTick) -> None:
        self.seen.append(tick)
        action = self.plan.get(len(self.seen) - 1)
        if action is not None:
            action(self)  # type: ignore[operator]

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)


def _engine(*data: QuoteSeries | TradeSeries) -> BacktestEngine:
    engine = BacktestEngine(BacktestConfig(cash=Decimal(100_000)))
    for series in data:
        engine.add_data(series, Instrument.equity(series.symbol))
    return engine


def test_market_buy_on_a_quote_fills_at_the_next_ask() -> None:
    engine = _engine(quotes("ABC", [100.00, 100.10, 100.20, 100.30]))
    trader = TickTrader({0: lambda s: s.buy(10), 2: lambda s: s.close()})
    engine.add_strategy(trader)
    run = engine.run()
    assert [f.side for f in trader.fills] == [OrderSide.BUY, OrderSide.SELL]
    assert trader.fills[0].last_px == Decimal("100.12")  # ask of the 2nd quote
    assert trader.fills[0].ts == T0 + SEC
    assert trader.fills[1].last_px == Decimal("100.30")  # bid of the 4th quote
    gain = Decimal(10) * (Decimal("100.30") - Decimal("100.12"))
    assert run.final_equity == Decimal(100_000) + gain
    assert run.failures == []


def test_limit_order_on_quotes_waits_for_the_ask() -> None:
    engine = _engine(quotes("ABC", [100.0, 99.99, 99.95, 99.90, 99.80]))
    trader = TickTrader({0: lambda s: s.buy(5, limit=99.93)})
    engine.add_strategy(trader)
    engine.run()
    assert len(trader.fills) == 1
    # asks: 100.01, 99.97, 99.92 -> the 4th quote (ask 99.92) is the first at or below 99.93
    assert trader.fills[0].ts == T0 + 3 * SEC
    assert trader.fills[0].last_px == Decimal("99.92")


def test_trades_fill_market_orders_at_the_next_print() -> None:
    trades = TradeSeries(
        "XYZ", T0 + np.arange(3, dtype=np.int64) * SEC, np.array([50.0, 50.5, 49.75]),
        np.array([100.0, 100.0, 100.0]),
    )
    engine = _engine(trades)
    trader = TickTrader({0: lambda s: s.sell(20)})
    engine.add_strategy(trader)
    run = engine.run()
    assert trader.fills[0].last_px == Decimal("50.5")
    assert isinstance(trader.seen[0], TradeTick)
    # short 20 from 50.5, marked at the last print 49.75
    assert run.equity[-1] == pytest.approx(100_000 + 20 * 0.75)


def test_ticks_of_several_symbols_arrive_in_time_order() -> None:
    a = quotes("A", [10.0, 10.1, 10.2], start=T0)
    b = quotes("B", [20.0, 20.1, 20.2], start=T0 + SEC // 2)
    engine = _engine(a, b)
    trader = TickTrader({})
    engine.add_strategy(trader)
    engine.run()
    assert [(t.symbol, t.ts) for t in trader.seen] == sorted(
        ((t.symbol, t.ts) for t in trader.seen), key=lambda x: x[1]
    )
    assert [t.symbol for t in trader.seen] == ["A", "B", "A", "B", "A", "B"]


def test_indicators_need_bars() -> None:
    class WantsSma(Strategy):
        def on_start(self) -> None:
            self.sma = self.indicator(SMA(3))

    engine = _engine(quotes("ABC", [1.0, 1.1]))
    engine.add_strategy(WantsSma())
    with pytest.raises(ConfigError, match="SMA"):
        engine.run()


def test_the_same_kind_of_data_twice_is_refused() -> None:
    engine = _engine(quotes("ABC", [1.0]))
    with pytest.raises(ConfigError, match="quote data for ABC was added twice"):
        engine.add_data(quotes("ABC", [2.0]))
