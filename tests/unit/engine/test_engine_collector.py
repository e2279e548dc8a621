"""What a backtest keeps for every order leaves the cycle collector nothing to scan."""

from __future__ import annotations

import gc

from tradeloop.core import native
from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.model import orders


def test_the_orders_a_backtest_keeps_are_not_tracked_by_the_collector() -> None:
    # tens of thousands of orders, each with a tracked list and set, made every collection of
    # a long backtest scan them all
    engine = BacktestEngine(BacktestConfig())
    engine.add_data(load_bars(bundled_path("GOOG")).bars)
    engine.add_strategy(SmaCross())
    run = engine.run()
    gc.collect()
    assert len(run.orders) == 65 and all(o.events and o.trade_ids for o in run.orders)
    tracked = [o.client_order_id for o in run.orders
               if gc.is_tracked(o.events) or gc.is_tracked(o.trade_ids)]
    assert tracked == []
    # the compiled Order is a native class the collector does not track (acyclic); the
    # source build's is a plain class with slots, which the interpreter always tracks
    compiled = native.is_compiled(orders)
    assert all(gc.is_tracked(o) is not compiled for o in run.orders)
