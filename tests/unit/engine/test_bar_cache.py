"""Runs that share a ``BarCache`` (an optimisation's trials) get the bars the first run built,
and trade exactly as runs that build their own."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from engine_harness import series

from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.engine.streams import BarCache
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.model.data import Bar, BarSeries


@cache
def goog() -> BarSeries:
    return load_bars(bundled_path("GOOG")).bars


def long_walk(n: int) -> BarSeries:
    """``n`` daily bars of a random walk: more than one chunk of the data loop past 65,536."""
    steps = np.random.default_rng(7).normal(0, 1, n)
    return series("WALK", (1_000 + np.cumsum(steps)).tolist())


class KeepsBars(SmaCross):
    """sma_cross that keeps the first bars it is given."""

    def on_start(self) -> None:
        super().on_start()
        self.first: list[Bar] = []

    def on_bar(self, bar: Bar) -> None:
        if len(self.first) < 3:
            self.first.append(bar)
        super().on_bar(bar)


def run(data: BarSeries, bar_cache: BarCache | None = None, **params: Any
        ) -> tuple[BacktestRun, KeepsBars]:
    engine = BacktestEngine(BacktestConfig(cash=1_000_000), bar_cache=bar_cache)
    engine.add_data(data)
    strategy = KeepsBars(**params)
    engine.add_strategy(strategy)
    return engine.run(), strategy


def trades(result: BacktestRun) -> list[tuple[int, str, str]]:
    return [(f.ts, str(f.last_qty), str(f.last_px)) for f in result.fills]


def test_runs_sharing_a_cache_trade_as_runs_without_one() -> None:
    alone, _ = run(goog(), fast=10, slow=30)
    shared = BarCache()
    first, _ = run(goog(), shared, fast=10, slow=30)
    assert len(shared) == len(goog())
    again, _ = run(goog(), shared, fast=10, slow=30)
    other, _ = run(goog(), shared, fast=5, slow=40)
    assert trades(first) == trades(again) == trades(alone) != []
    assert first.final_equity == again.final_equity == alone.final_equity
    np.testing.assert_array_equal(again.equity, alone.equity)
    assert trades(other) == trades(run(goog(), fast=5, slow=40)[0])


def test_a_later_run_is_given_the_very_bars_of_the_first() -> None:
    shared = BarCache()
    _, first = run(goog(), shared)
    _, second = run(goog(), shared)
    _, uncached = run(goog())
    assert all(a is b for a, b in zip(first.first, second.first, strict=True))
    assert all(a == b and a is not b for a, b in zip(first.first, uncached.first,
                                                      strict=True))
    assert len(first.first) == 3


def test_several_chunks_are_kept_and_trade_the_same() -> None:
    walk = long_walk(70_000)
    shared = BarCache(max_bars=100_000)
    cached = [run(walk, shared)[0] for _ in range(2)]
    alone, _ = run(walk)
    assert len(shared) == 70_000
    assert shared.get(walk, 0, 65_536) is not None and shared.get(walk, 65_536, 70_000)
    assert trades(cached[0]) == trades(cached[1]) == trades(alone)
    assert len(alone.fills) > 100


def test_a_series_larger_than_the_budget_is_not_kept() -> None:
    small = BarCache(max_bars=len(goog()) - 1)
    result, _ = run(goog(), small)
    assert len(small) == 0 and small.get(goog(), 0, len(goog())) is None
    assert trades(result) == trades(run(goog())[0])


def test_the_series_seen_longest_ago_makes_room() -> None:
    shared = BarCache(max_bars=len(goog()) + 50)
    run(goog(), shared)
    recent = series("GOOG", goog().close[:100].tolist())
    run(recent, shared)
    assert shared.get(goog(), 0, len(goog())) is None
    assert shared.get(recent, 0, 100) is not None and len(shared) == 100
