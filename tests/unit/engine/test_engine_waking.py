"""A strategy that declares wake conditions trades exactly as the same strategy called on every
bar that returns early where no condition holds: the same fills, equity, alerts and hook calls,
each seeing the same clock, mark and indicator values. The backtest walks only the bars where
something can happen; these tests pin that it skips, and that nothing it skips shows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from engine_harness import DAY, HOUR, T0, series

from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.indicators import SMA, BollingerBands
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.events import OrderFilled
from tradeloop.strategy import (
    Above,
    Below,
    Cross,
    CrossAbove,
    CrossBelow,
    crossed_above,
    crossed_below,
)


def walk(n: int, seed: int, step: int = DAY) -> BarSeries:
    """``n`` bars of a random walk, daily by default: more than one chunk of the data loop past
    65,536. (Daily bars from 2024 pass the largest int64 nanosecond time after about 106,000.)
    """
    steps = np.random.default_rng(seed).normal(0, 1, n)
    return series("WALK", (1_000 + np.cumsum(steps)).tolist(), step=step)


class Busy(SmaCross):
    """sma_cross with working orders, an alert and hooks that note what they see.

    On an upward crossing while flat it buys with a stop-loss below and a take-profit above
    (orders that work for many bars); on a downward one it closes. An alert set in ``on_start``
    fires on a bar where nothing else happens and buys there. ``wake`` False declares no
    condition and returns early on bars without a crossing: the every-bar twin.
    """

    wake: bool = True
    alert_at: int = 0
    brackets: bool = True

    def on_start(self) -> None:
        if self.wake:
            super().on_start()
        else:
            self.fast_ma = self.indicator(SMA(self.fast))
            self.slow_ma = self.indicator(SMA(self.slow))
        self.band = self.indicator(BollingerBands(20, 2.0))
        self.seen: list[tuple[Any, ...]] = []
        self.on_bar_calls = 0
        if self.alert_at:
            self.context.clock.set_alert("probe", self.alert_at, self.on_alert)

    def state(self, what: str) -> tuple[Any, ...]:
        f, s, b = self.fast_ma, self.slow_ma, self.band
        return (what, self.now_ns, self.last_price(), f.prev, f.value, f.count, s.prev, s.value,
                b.upper, b.lower, str(self.position().quantity))

    def on_alert(self, name: str, at_ns: int) -> None:
        self.seen.append(self.state(f"alert {name}"))
        self.buy(self.size, tag="alert")

    def on_fill(self, fill: OrderFilled) -> None:
        self.seen.append(self.state(f"fill {fill.client_order_id}"))

    def on_bar(self, bar: Bar) -> None:
        self.on_bar_calls += 1
        if not self.wake and not (crossed_above(self.fast_ma, self.slow_ma)
                                  or crossed_below(self.fast_ma, self.slow_ma)):
            return
        self.seen.append((*self.state("bar"), bar))
        if crossed_above(self.fast_ma, self.slow_ma) and self.position().is_flat:
            price = bar.close
            if self.brackets:
                self.bracket("BUY", self.size, stop_loss=price * 0.97, take_profit=price * 1.05)
            else:
                self.buy(self.size)
        elif crossed_below(self.fast_ma, self.slow_ma) and self.position().is_long:
            self.cancel_all()
            self.close()

    def on_stop(self) -> None:
        self.seen.append(self.state("stop"))

    def cancel_all(self) -> None:
        for order in self.open_orders():
            self.cancel(order)


def backtest(data: BarSeries, strategy: Any, **config: Any) -> BacktestRun:
    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000), **config))
    engine.add_data(data)
    engine.add_strategy(strategy)
    return engine.run()


def outcome(run: BacktestRun) -> tuple[Any, ...]:
    return ([(f.ts, f.client_order_id, str(f.last_qty), str(f.last_px)) for f in run.fills],
            [(o.client_order_id, o.status, o.order_type) for o in run.orders],
            str(run.final_equity), run.equity.tolist())


def same_runs(data: BarSeries, **params: Any) -> tuple[Busy, Busy]:
    woken, every = Busy(**params), Busy(wake=False, **params)
    assert outcome(backtest(data, woken)) == outcome(backtest(data, every))
    assert woken.seen == every.seen
    return woken, every


@pytest.mark.parametrize("name", ["GOOG", "EURUSD"])
def test_sma_cross_wakes_only_where_it_crosses_and_trades_as_on_every_bar(name: str) -> None:
    data = load_bars(bundled_path(name)).bars
    woken, every = same_runs(data)
    fills = [s for s in woken.seen if s[0].startswith("fill")]
    assert len(fills) > 20  # brackets, stops and take-profits filled on bars it skipped
    assert every.on_bar_calls == len(data)
    crossings = sum(1 for s in every.seen if s[0] == "bar")
    assert woken.on_bar_calls == crossings < len(data) / 5


def quietest_bar(data: BarSeries) -> int:
    """The bar in the middle of the longest stretch where sma_cross does nothing."""
    quiet = Busy(brackets=False)
    backtest(data, quiet)
    times = np.array([s[1] for s in quiet.seen])
    longest = int(np.argmax(np.diff(times)))
    assert int(np.diff(times)[longest]) > 6 * DAY
    return int(times[longest] - T0) // DAY + int(np.diff(times)[longest]) // DAY // 2


@pytest.mark.parametrize("chunk", ["default", "ends before the bar before"])
def test_an_alert_on_a_skipped_bar_fires_there_and_sees_the_bars_before_it(
    chunk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = walk(400, seed=3)
    middle = quietest_bar(data)
    if chunk != "default":
        # a chunk starts on the skipped bar before the alert's: the indicators' previous
        # values there come from the chunk before
        monkeypatch.setattr("tradeloop.engine.backtest._CHUNK", middle - 1)
    at = T0 + middle * DAY + DAY // 2  # within the bar opening at T0 + middle days
    woken, _ = same_runs(data, alert_at=at, brackets=False)
    fired = [s for s in woken.seen if s[0] == "alert probe"]
    assert len(fired) == 1 and fired[0][1] == at
    assert fired[0][5] == middle  # the indicators have seen every bar before it


@pytest.mark.parametrize("later", [0, 1], ids=["within the bar of a fill", "in the bar after"])
def test_an_alert_by_a_fill_sees_what_it_sees_on_every_bar(later: int) -> None:
    # after a fill the loop jumps over the quiet bars that follow, unless an alert falls due
    # in the fill's bar or the one after
    data = walk(400, seed=3)
    quiet = Busy(brackets=False)
    backtest(data, quiet)
    # bar indices: on_bar sees the clock at the bar's close, a market order fills at an open
    woken_at = {int(s[1] - T0) // DAY - 1 for s in quiet.seen if s[0] == "bar"}
    fills = [int(s[1] - T0) // DAY for s in quiet.seen if s[0].startswith("fill")]
    k = next(k for k in fills if not woken_at & {k, k + 1, k + 2})
    at = T0 + (k + later) * DAY + DAY // 2
    woken, _ = same_runs(data, alert_at=at, brackets=False)
    fired = [s for s in woken.seen if s[0] == "alert probe"]
    assert len(fired) == 1 and fired[0][1] == at


def test_several_chunks_trade_the_same() -> None:
    same_runs(walk(140_000, seed=11, step=HOUR), fast=5, slow=12)


def test_the_unchanged_sma_cross_gives_the_same_fills_with_its_conditions_ignored() -> None:
    data = load_bars(bundled_path("EURUSD")).bars
    woken = backtest(data, SmaCross())
    streaming = backtest(data, SmaCross(), precompute_indicators=False)  # bar by bar
    assert outcome(woken) == outcome(streaming)


def test_a_strategy_without_conditions_on_the_same_data_makes_every_bar_walked() -> None:
    data = load_bars(bundled_path("GOOG")).bars
    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000)))
    engine.add_data(data)
    woken, every = Busy(strategy_id="woken"), Busy(strategy_id="every", wake=False)
    engine.add_strategy(woken)
    engine.add_strategy(every)
    engine.run()
    assert every.on_bar_calls == len(data)
    assert woken.on_bar_calls < len(data) / 5
    assert [s[1] for s in woken.seen if s[0] == "bar"] == [
        s[1] for s in every.seen if s[0] == "bar"]


class Levels(SmaCross):
    """Wakes where the fast average is above or below fixed levels, or crosses them."""

    def on_start(self) -> None:
        self.fast_ma = self.indicator(SMA(self.fast))
        self.slow_ma = self.indicator(SMA(self.slow))
        self.wake_when(Above(self.fast_ma, 1_010), Below(self.fast_ma, 985),
                       CrossAbove(1_000, self.slow_ma), CrossBelow(self.fast_ma, 1_000.0))
        self.at: list[int] = []

    def on_bar(self, bar: Bar) -> None:
        self.at.append(bar.ts)


def test_levels_wake_on_exactly_the_bars_where_they_hold() -> None:
    data = walk(3_000, seed=5)
    strategy = Levels()
    backtest(data, strategy)
    fast = SMA(10).batch(data.close)["value"]
    slow = SMA(30).batch(data.close)["value"]
    prev_fast, prev_slow = np.r_[np.nan, fast[:-1]], np.r_[np.nan, slow[:-1]]
    with np.errstate(invalid="ignore"):
        expected = ((fast > 1_010) | (fast < 985) | ((prev_slow > 1_000) & (slow < 1_000))
                    | ((prev_fast > 1_000) & (fast < 1_000)))
    assert 100 < expected.sum() < len(data) - 100
    assert strategy.at == data.ts[expected].tolist()


def test_cross_is_either_crossing() -> None:
    class Both(SmaCross):
        def on_start(self) -> None:
            self.fast_ma = self.indicator(SMA(self.fast))
            self.slow_ma = self.indicator(SMA(self.slow))
            self.wake_when(Cross(self.fast_ma, self.slow_ma))
            self.at: list[int] = []

        def on_bar(self, bar: Bar) -> None:
            self.at.append(bar.ts)

    class Each(Both):
        def on_start(self) -> None:
            self.fast_ma = self.indicator(SMA(self.fast))
            self.slow_ma = self.indicator(SMA(self.slow))
            self.wake_when(CrossAbove(self.fast_ma, self.slow_ma),
                           CrossBelow(self.fast_ma, self.slow_ma))
            self.at = []

    data = walk(2_000, seed=8)
    both, each = Both(), Each()
    backtest(data, both)
    backtest(data, each)
    assert both.at == each.at and len(both.at) > 50


class FailsOnItsThirdBar(SmaCross):
    """sma_cross that raises in ``on_bar`` the third time it is woken."""

    def on_start(self) -> None:
        super().on_start()
        self.calls = 0

    def on_bar(self, bar: Bar) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom")
        super().on_bar(bar)


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "with another strategy"])
def test_a_strategy_that_fails_is_not_woken_again_and_the_others_go_on(others: int) -> None:
    data = load_bars(bundled_path("EURUSD")).bars
    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000)))
    engine.add_data(data)
    failing = FailsOnItsThirdBar(strategy_id="fails")
    engine.add_strategy(failing)
    other = SmaCross(strategy_id="goes-on")
    if others:
        engine.add_strategy(other)
    run = engine.run()
    assert failing.calls == 3
    assert [f.strategy_id for f in run.failures] == ["fails"]
    if others:
        alone = backtest(data, SmaCross(strategy_id="goes-on"))

        def fills(r: BacktestRun) -> list[tuple[Any, ...]]:
            return [(f.ts, f.client_order_id, f.side, f.last_qty, f.last_px) for f in r.fills
                    if f.strategy_id == "goes-on"]

        assert len(fills(alone)) > 20 and fills(run) == fills(alone)
