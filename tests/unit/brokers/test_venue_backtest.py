"""The simulated venue behind a backtest: strategy orders, brackets and the order emulator."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.enums import OrderStatus
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.strategy.base import Strategy

T0 = 1_704_153_600_000_000_000  # 2024-01-02 UTC


def series(*bars: tuple[float, float, float, float]) -> BarSeries:
    rows = np.array(bars, dtype=np.float64)
    return BarSeries(
        "ABC", T0 + np.arange(len(bars), dtype=np.int64) * NANOS_PER_DAY,
        rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy(),
        np.full(len(bars), 1e6), NANOS_PER_DAY,
    )


class Scripted(Strategy):
    """Runs ``script[i](self)`` on the i-th bar."""

    def __init__(self, script: dict[int, object]) -> None:
        super().__init__("T")
        self.script = script
        self.seen = 0
        self.orders: list[Order] = []
        self.events: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        action = self.script.get(self.seen)
        self.seen += 1
        if action is not None:
            result = action(self)  # type: ignore[operator]
            self.orders.extend(result if isinstance(result, tuple) else (result,))

    def on_order(self, event: object) -> None:
        self.events.append(f"{type(event).__name__}:{event.client_order_id}")  # type: ignore[attr-defined]


def run(strategy: Strategy, data: BarSeries, **venue: object) -> BacktestRun:
    engine = BacktestEngine(BacktestConfig(venue=SimulatedVenueConfig(**venue)))  # type: ignore[arg-type]
    engine.add_data(data, Instrument.equity("ABC"))
    engine.add_strategy(strategy)
    return engine.run()


def test_order_sent_on_a_bar_fills_at_the_next_open() -> None:
    strategy = Scripted({0: lambda s: s.buy(10)})
    result = run(strategy, series((100, 101, 99, 100.5), (102, 103, 101, 102.5)))
    (order,) = strategy.orders
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("102")
    assert [f.ts for f in result.fills] == [T0 + NANOS_PER_DAY]


def test_strategy_bracket_stop_and_target_in_one_bar() -> None:
    data = series((100, 101, 99, 100.5), (101, 102, 100, 101.5), (101.5, 111, 94, 96))
    for policy, winner in (("stop_first", 1), ("target_first", 2), ("path", 2)):
        strategy = Scripted({0: lambda s: s.bracket("BUY", 10, stop_loss=95, take_profit=110)})
        run(strategy, data, conflict=policy)
        parent = strategy.orders[0]
        assert parent.avg_px == Decimal("101")
        assert strategy.orders[winner].status is OrderStatus.FILLED, policy
        assert strategy.orders[3 - winner].status is OrderStatus.CANCELED, policy
        assert strategy.position().is_flat


def test_trailing_stop_starts_from_the_last_close() -> None:
    strategy = Scripted({0: lambda s: s.buy(10), 1: lambda s: s.sell(10, trail=2)})
    data = series((100, 101, 99, 100.5), (101, 106, 100.5, 105), (104.5, 104.8, 102, 102.5))
    run(strategy, data)
    _, trail = strategy.orders
    assert trail.avg_px == Decimal("103")  # best 105 (the close it was sent on), stop 103


def test_strategy_sees_its_fill_before_the_next_bar() -> None:
    strategy = Scripted({0: lambda s: s.buy(10)})
    run(strategy, series((100, 101, 99, 100.5), (102, 103, 101, 102.5), (103, 104, 102, 103)))
    oid = strategy.orders[0].client_order_id
    assert strategy.events == [f"OrderSubmitted:{oid}", f"OrderAccepted:{oid}",
                               f"OrderFilled:{oid}"]
