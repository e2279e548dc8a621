"""The backtest data loop: several instruments merged in time order, each strategy fed only its
symbols, indicators kept per symbol, and the engine's input checks."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from engine_harness import DAY, HOUR, T0, Recorder, engine_with, series

from tradeloop.core.errors import ConfigError
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.indicators import SMA
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.enums import OrderStatus
from tradeloop.model.events import OrderFilled
from tradeloop.model.instrument import Instrument

A_TIMES = [T0, T0 + 2 * HOUR, T0 + 4 * HOUR]
B_TIMES = [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]


def two_instruments(first: str = "A") -> BacktestEngine:
    a = series("A", [10, 11, 12], times=A_TIMES, step=2 * HOUR)
    b = series("B", [20, 21, 22, 23], times=B_TIMES, step=HOUR)
    return engine_with(*((a, b) if first == "A" else (b, a)))


def test_bars_of_several_instruments_arrive_in_the_order_they_close() -> None:
    engine = two_instruments("A")
    rec = Recorder()
    engine.add_strategy(rec)
    run = engine.run()
    # A's bars last two hours, B's one: A@T0 closes at T0+2h, after B@T0+1h (the shorter first)
    assert [(sym, ts) for sym, ts, _ in rec.bars] == [
        ("B", T0), ("B", T0 + HOUR), ("A", T0), ("B", T0 + 2 * HOUR),
        ("B", T0 + 3 * HOUR), ("A", T0 + 2 * HOUR), ("A", T0 + 4 * HOUR),
    ]
    seen_at = [now for _, _, now in rec.bars]
    assert seen_at == sorted(seen_at)  # the strategy's clock never goes back
    assert run.bars == 7
    assert run.timeline.tolist() == [T0 + k * HOUR for k in range(5)]


@pytest.mark.parametrize("first", ["A", "B"])
def test_ties_follow_the_order_the_data_was_added(first: str) -> None:
    a = series("A", [10, 11, 12], step=HOUR)
    b = series("B", [20, 21, 22], step=HOUR)
    engine = engine_with(*((a, b) if first == "A" else (b, a)))
    rec = Recorder()
    engine.add_strategy(rec)
    engine.run()
    second = "B" if first == "A" else "A"
    assert [sym for sym, _, _ in rec.bars] == [first, second] * 3


def test_a_bar_is_seen_at_its_close_time() -> None:
    engine = two_instruments()
    rec = Recorder()
    engine.add_strategy(rec)
    engine.run()
    steps = {"A": 2 * HOUR, "B": HOUR}
    assert all(now == ts + steps[sym] for sym, ts, now in rec.bars)


def test_each_strategy_sees_only_its_symbols() -> None:
    engine = two_instruments()
    only_a, only_b, both = Recorder("only_a"), Recorder("only_b"), Recorder("both")
    engine.add_strategy(only_a, ["A"])
    engine.add_strategy(only_b, ("B",))
    engine.add_strategy(both)
    engine.run()
    assert [ts for sym, ts, _ in only_a.bars] == A_TIMES and {s for s, *_ in only_a.bars} == {"A"}
    assert [ts for sym, ts, _ in only_b.bars] == B_TIMES and {s for s, *_ in only_b.bars} == {"B"}
    assert len(both.bars) == 7
    assert only_a.symbols == ("A",) and only_b.symbol == "B" and both.symbols == ("A", "B")


@pytest.mark.parametrize("precompute", [True, False])
def test_indicators_follow_their_own_symbol(precompute: bool) -> None:
    engine = two_instruments()
    engine.config = BacktestConfig(precompute_indicators=precompute)
    seen: list[tuple[str, float, float]] = []

    class TwoSmas(Recorder):
        def on_start(self) -> None:
            self.sma_a = self.indicator(SMA(2))  # the main symbol, A
            self.sma_b = self.indicator(SMA(2), "B")

        def on_bar(self, bar: Bar) -> None:
            seen.append((bar.symbol, self.sma_a.value, self.sma_b.value))

    engine.add_strategy(TwoSmas())
    engine.run()
    nan = float("nan")
    expected = [("B", nan, nan), ("B", nan, 20.5), ("A", nan, 20.5), ("B", nan, 21.5),
                ("B", nan, 22.5), ("A", 10.5, 22.5), ("A", 11.5, 22.5)]
    assert np.allclose([v[1:] for v in seen], [v[1:] for v in expected], equal_nan=True)
    assert [v[0] for v in seen] == [v[0] for v in expected]


def test_an_indicator_for_a_symbol_without_data_stops_the_strategy() -> None:
    engine = two_instruments()

    class WrongSymbol(Recorder):
        def on_start(self) -> None:
            self.indicator(SMA(2), "B")

    wrong, unknown, fine = WrongSymbol("wrong"), Recorder("unknown"), Recorder("fine")
    unknown.on_start = lambda: unknown.indicator(SMA(3), "ZZZ")  # type: ignore[method-assign]
    engine.add_strategy(wrong, ["A"])
    engine.add_strategy(unknown, ["A"])
    engine.add_strategy(fine, ["A"])
    run = engine.run()
    by_id = {f.strategy_id: f for f in run.failures}
    assert set(by_id) == {"wrong", "unknown"}
    assert by_id["wrong"].hook == "on_start"
    assert by_id["wrong"].error == "ValueError: wrong: no data for 'B' (has A)"
    assert by_id["unknown"].error == "ValueError: unknown: no data for 'ZZZ' (has A)"
    assert wrong.bars == [] and unknown.bars == []
    assert len(fine.bars) == 3


def test_register_indicator_raises_for_a_symbol_of_no_subscription() -> None:
    engine = two_instruments()
    runner = engine.add_strategy(Recorder(), ["B"])
    with pytest.raises(ValueError, match=r"R: no data for 'A' \(has B\)"):
        runner.register_indicator(SMA(2), "A")


def test_orders_sent_from_fills_of_interleaved_instruments_get_unique_ids() -> None:
    # Both instruments trade at the same times, so the clock moves to a bar's close and back
    # to the other instrument's open at the earlier time; a strategy sending orders both from
    # on_bar and on_fill must never reuse a client order id.
    a = series("A", [10, 10, 10, 10])
    b = series("B", [20, 20, 20, 20])
    engine = engine_with(a, b)

    def act(s: Recorder, bar: Bar, index: int) -> None:
        if index < 2:
            s.buy(1, bar.symbol)
        else:
            s.buy(1, bar.symbol, limit=1, tag="refresh")

    class Protects(Recorder):
        def on_fill(self, fill: OrderFilled) -> None:
            super().on_fill(fill)
            self.sell(1, fill.symbol, stop=5, reduce_only=True, tag="protect")

    strategy = Protects(act=act)
    engine.add_strategy(strategy)
    run = engine.run()
    assert run.failures == []
    ids = [o.client_order_id for o in run.orders]
    assert len(ids) == len(set(ids))
    assert sorted(f.symbol for f in strategy.fills) == ["A", "B"]
    protects = [o for o in run.orders if o.tags == ("protect",)]
    assert len(protects) == 2 and all(o.status is OrderStatus.ACCEPTED for o in protects)


def test_engine_input_checks() -> None:
    with pytest.raises(ConfigError, match="starting cash must be positive"):
        BacktestEngine(BacktestConfig(cash=Decimal(0)))
    engine = BacktestEngine()
    with pytest.raises(ConfigError, match="add data before strategies"):
        engine.add_strategy(Recorder())
    a = series("A", [1, 2])
    engine.add_data(a)
    with pytest.raises(ConfigError, match="data for A was added twice"):
        engine.add_data(a)
    empty = BarSeries("E", np.array([], np.int64), *(np.array([]) for _ in range(5)))
    with pytest.raises(ConfigError, match="E: no bars in the chosen range"):
        engine.add_data(empty)
    with pytest.raises(ConfigError, match="instrument X given for C data"):
        engine.add_data(series("C", [1]), Instrument.equity("X"))
    with pytest.raises(ConfigError, match="no data for Q, R"):
        engine.add_strategy(Recorder(), ["A", "Q", "R"])
    engine.add_strategy(Recorder("same"))
    with pytest.raises(ValueError, match="two strategies share the id 'same'"):
        engine.add_strategy(Recorder("same"))


def test_instrument_is_guessed_from_the_data() -> None:
    engine = BacktestEngine()
    inst = engine.add_data(series("ABC", [10.125, 10.5]))
    assert inst.tick_size == Decimal("0.001")
    fx = engine.add_data(series("EURUSD", [1.08123, 1.08]))
    assert fx.quote_currency == "USD" and fx.base_currency == "EUR"


def test_a_single_bar_run_and_the_run_record() -> None:
    engine = engine_with(series("A", [100]))
    rec = Recorder()
    engine.add_strategy(rec)
    run = engine.run()
    assert rec.started and rec.stopped
    assert rec.bars == [("A", T0, T0 + DAY)]  # one bar: a day long by default
    assert run.equity.tolist() == [100_000.0]
    assert run.strategies == {"R": {}}
    assert run.start_equity == run.final_equity == Decimal(100_000)


@pytest.mark.parametrize("precompute", [True, False])
def test_independent_strategies_fill_together_as_each_alone(precompute: bool) -> None:
    """A daily and an hourly instrument merged into one run (the bar loop for several bar
    streams) fill exactly as each does in a run of its own (the one-stream loop)."""
    from tradeloop.data import bundled_path, load_bars
    from tradeloop.examples.sma_cross import SmaCross

    data = {name: load_bars(bundled_path(name)).bars for name in ("GOOG", "EURUSD")}

    def fills(names: tuple[str, ...]) -> dict[str, list[tuple[int, str, Decimal, Decimal]]]:
        engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000),
                                               precompute_indicators=precompute))
        for name in names:
            engine.add_data(data[name])
        for name in names:
            engine.add_strategy(SmaCross(strategy_id=f"sma-{name}"), [name])
        run = engine.run()
        return {name: [(f.ts, f.side.value, f.last_qty, f.last_px) for f in run.fills
                       if f.symbol == name] for name in names}

    together = fills(("GOOG", "EURUSD"))
    assert together == {**fills(("GOOG",)), **fills(("EURUSD",))}
    assert len(together["GOOG"]) == 65 and len(together["EURUSD"]) == 166  # 33 and 83 trips
