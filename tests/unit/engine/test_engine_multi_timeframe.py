"""Several timeframes in one backtest: a longer bar reaches the strategy only once it has closed,
after the last of the finer bars it is built from, and trading on hourly signals over minute data
gives the same trades as trading the same signals on the hourly bars themselves."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from engine_harness import HOUR

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_MINUTE
from tradeloop.data.resample import resample_bars
from tradeloop.data.timeframes import BucketAlignment, parse_timeframe
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.indicators import SMA
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy, crossed_above, crossed_below

MINUTE = NANOS_PER_MINUTE
T0 = 1_704_153_600_000_000_000  # Tuesday 2024-01-02 00:00 UTC


def minute_bars(n: int, seed: int = 7, start: int = T0, symbol: str = "SYN") -> BarSeries:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n))), 2)
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.round(np.abs(rng.normal(0.0, 0.05, n)), 2)
    ts = start + np.arange(n, dtype=np.int64) * MINUTE
    return BarSeries(symbol, ts, open_, np.maximum(open_, close) + spread,
                     np.minimum(open_, close) - spread, close,
                     rng.integers(1, 100, n).astype(np.float64), MINUTE, "test")


class Watcher(Strategy):
    """Notes every bar it gets, with its timeframe and the clock time."""

    timeframe: str = "1h"

    def on_start(self) -> None:
        self.seen: list[tuple[str, int, int]] = []
        self.label = self.subscribe_bars(self.timeframe)

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((bar.timeframe, bar.ts, self.now_ns))


class HourlyCross(Strategy):
    """SMA crossover on hourly closes, whatever the data's own bar length."""

    fast: int = 3
    slow: int = 8

    def on_start(self) -> None:
        self.hourly = self.subscribe_bars("1h")
        self.fast_ma = self.indicator(SMA(self.fast), timeframe="1h")
        self.slow_ma = self.indicator(SMA(self.slow), timeframe="1h")

    def on_bar(self, bar: Bar) -> None:
        if bar.timeframe != self.hourly:
            return
        if crossed_above(self.fast_ma, self.slow_ma) and self.position().is_flat:
            self.buy(10)
        elif crossed_below(self.fast_ma, self.slow_ma) and self.position().is_long:
            self.close()


def run(series: BarSeries, strategy: Strategy, **config: object) -> BacktestEngine:
    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000), **config))  # type: ignore[arg-type]
    engine.add_data(series, Instrument.equity(series.symbol))
    engine.add_strategy(strategy)
    engine.last_run = engine.run()  # type: ignore[attr-defined]
    return engine


def test_an_hourly_bar_arrives_right_after_its_last_minute_bar() -> None:
    watcher = Watcher()
    run(minute_bars(5 * 60 + 30), watcher)
    hourly = [(k, ts, now) for k, (tf, ts, now) in enumerate(watcher.seen) if tf == "1h"]
    assert watcher.label == "1h"
    assert len(hourly) == 5  # the sixth hour is incomplete when the data ends: never delivered
    for k, ts, now in hourly:
        assert ts % HOUR == 0
        assert now == ts + HOUR  # delivered at its close, not a moment before
        before = watcher.seen[k - 1]
        assert before[0] == "1m" and before[1] == ts + HOUR - MINUTE  # its last minute bar
        after = watcher.seen[k + 1]
        assert after[0] == "1m" and after[1] == ts + HOUR  # the next hour's first minute
        assert after[2] > now


def test_no_strategy_sees_a_longer_bar_before_its_end() -> None:
    watcher = Watcher(timeframe="15m")
    run(minute_bars(3 * 60 + 7), watcher)
    last_minute_close = 0
    for tf, ts, now in watcher.seen:
        if tf == "1m":
            last_minute_close = ts + MINUTE
        else:
            assert tf == "15m"
            assert now == ts + 15 * MINUTE == last_minute_close
    assert sum(tf == "15m" for tf, _, _ in watcher.seen) == 12


def test_hourly_bars_carry_the_hours_ohlcv() -> None:
    bars = minute_bars(3 * 60)
    watcher = Watcher()
    engine = BacktestEngine(BacktestConfig())
    engine.add_data(bars, Instrument.equity("SYN"))
    received: list[Bar] = []
    original = watcher.on_bar

    def keep(bar: Bar) -> None:
        original(bar)
        if bar.timeframe == "1h":
            received.append(bar)

    watcher.on_bar = keep  # type: ignore[method-assign]
    engine.add_strategy(watcher)
    engine.run()
    assert [b.ts for b in received] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    for k, bar in enumerate(received):
        rows = slice(k * 60, (k + 1) * 60)
        assert bar.open == bars.open[rows][0]
        assert bar.high == bars.high[rows].max()
        assert bar.low == bars.low[rows].min()
        assert bar.close == bars.close[rows][-1]
        assert bar.volume == bars.volume[rows].sum()


def test_hourly_signals_on_minute_data_trade_like_the_hourly_data() -> None:
    minutes = minute_bars(60 * 24 * 4, seed=11)
    hours = resample_bars(minutes, parse_timeframe("1h"))
    on_minutes = run(minutes, HourlyCross()).last_run  # type: ignore[attr-defined]
    on_hours = run(hours, HourlyCross()).last_run  # type: ignore[attr-defined]
    fills_m = [(f.side, f.ts, f.last_px, f.last_qty) for f in on_minutes.fills]
    fills_h = [(f.side, f.ts, f.last_px, f.last_qty) for f in on_hours.fills]
    assert len(fills_m) >= 6  # the workload really trades
    assert fills_m == fills_h
    # a market order sent at an hour's close fills at the next minute's open, which is the
    # next hour's open
    for side, ts, px, _ in fills_m:
        assert ts % HOUR == 0
        row = int((ts - T0) // MINUTE)
        assert float(px) == minutes.open[row]
        del side
    assert on_minutes.final_balance == on_hours.final_balance


def test_orders_fill_against_the_finest_bars_only() -> None:
    class BuyOnFirstHour(Strategy):
        def on_start(self) -> None:
            self.subscribe_bars("1h")
            self.sent = False

        def on_bar(self, bar: Bar) -> None:
            if bar.timeframe == "1h" and not self.sent:
                self.sent = True
                self.buy(1, limit_price=bar.low)  # touched inside the hour just closed

    minutes = minute_bars(4 * 60, seed=3)
    run_ = run(minutes, BuyOnFirstHour()).last_run  # type: ignore[attr-defined]
    for fill in run_.fills:  # only prices after the order was sent may fill it
        assert fill.ts >= T0 + HOUR


def test_indicator_on_a_longer_timeframe_without_bars_in_on_bar() -> None:
    class OnlyIndicator(Strategy):
        def on_start(self) -> None:
            self.ma = self.indicator(SMA(2), timeframe="1h")
            self.seen: list[tuple[str, int, float]] = []

        def on_bar(self, bar: Bar) -> None:
            self.seen.append((bar.timeframe, bar.ts, self.ma.value))

    minutes = minute_bars(3 * 60 + 1)
    strategy = OnlyIndicator()
    run(minutes, strategy)
    assert {tf for tf, _, _ in strategy.seen} == {"1m"}
    hours = resample_bars(minutes, parse_timeframe("1h"))
    expected_two = (hours.close[0] + hours.close[1]) / 2
    by_ts = {ts: value for _, ts, value in strategy.seen}
    assert np.isnan(by_ts[T0 + HOUR])  # one hourly close known: SMA(2) not ready
    # the second hour closes at T0+2h, right after its last minute bar: the minute bars from
    # then on see the new value, the last minute of the hour does not
    assert np.isnan(by_ts[T0 + 2 * HOUR - MINUTE])
    assert by_ts[T0 + 2 * HOUR] == pytest.approx(expected_two)
    assert by_ts[T0 + 3 * HOUR - MINUTE] == pytest.approx(expected_two)


def test_daily_bars_with_a_new_york_boundary() -> None:
    minutes = minute_bars(60 * 24 * 3, start=T0)
    engine = BacktestEngine(BacktestConfig())
    engine.add_data(minutes, Instrument.equity("SYN"))

    class FxDaily(Watcher):
        def on_start(self) -> None:
            self.seen = []
            self.label = self.subscribe_bars(
                "1d", alignment=BucketAlignment("America/New_York", "17:00"))

    watcher = FxDaily()
    engine.add_strategy(watcher)
    engine.run()
    daily = [(ts, now) for tf, ts, now in watcher.seen if tf == "1d"]
    # 17:00 New York in January is 22:00 UTC: the data starts two hours into the day that
    # opened 2024-01-01 22:00 UTC, and the day still open when the data ends is never delivered
    assert [ts for ts, _ in daily] == [T0 - 2 * HOUR, T0 + 22 * HOUR, T0 + 46 * HOUR]
    assert all(now == ts + 24 * HOUR for ts, now in daily)


def test_user_supplied_longer_bars_are_used_and_never_fill_orders() -> None:
    minutes = minute_bars(3 * 60)
    hours = resample_bars(minutes, parse_timeframe("1h"))
    engine = BacktestEngine(BacktestConfig())
    engine.add_data(minutes, Instrument.equity("SYN"))
    engine.add_data(hours)
    watcher = Watcher()
    engine.add_strategy(watcher)
    result = engine.run()
    assert sum(tf == "1h" for tf, _, _ in watcher.seen) == 3
    assert result.timeline.shape[0] == len(minutes)  # the equity curve follows the minutes


def test_the_same_bars_twice_is_an_error_but_two_lengths_are_fine() -> None:
    minutes = minute_bars(120)
    engine = BacktestEngine(BacktestConfig())
    engine.add_data(minutes)
    engine.add_data(resample_bars(minutes, parse_timeframe("1h")))
    with pytest.raises(ConfigError, match="1m bar data for SYN was added twice"):
        engine.add_data(minutes)


def test_finer_bars_than_the_data_cannot_be_built() -> None:
    hours = resample_bars(minute_bars(600), parse_timeframe("1h"))

    class WantsMinutes(Strategy):
        def on_start(self) -> None:
            self.subscribe_bars("5m")

    engine = BacktestEngine(BacktestConfig())
    engine.add_data(hours)
    engine.add_strategy(WantsMinutes())
    with pytest.raises(ConfigError, match="cannot build 5m bars of SYN from its 1h bars"):
        engine.run()


def test_subscribing_after_the_start_is_refused() -> None:
    class Late(Strategy):
        def on_bar(self, bar: Bar) -> None:
            self.subscribe_bars("1h")

    engine = BacktestEngine(BacktestConfig())
    engine.add_data(minute_bars(10))
    engine.add_strategy(Late())
    result = engine.run()
    assert result.failures
    assert "subscribe to bars in on_start; the 1h bars of SYN" in result.failures[0].error


def test_an_unknown_timeframe_teaches() -> None:
    class Typo(Strategy):
        def on_start(self) -> None:
            self.subscribe_bars("1hour5")

    engine = BacktestEngine(BacktestConfig())
    engine.add_data(minute_bars(10))
    engine.add_strategy(Typo())
    result = engine.run()
    assert "unknown timeframe '1hour5'" in result.failures[0].error
