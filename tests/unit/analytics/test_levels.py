"""Stop and target levels of trades, read from a real bracket strategy's orders."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradeloop.analytics.levels import trade_levels
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.services.backtest import BacktestRequest, run_backtest


def test_bracket_levels_follow_each_trade(tmp_path: Path) -> None:
    result = run_backtest(BacktestRequest("ma_rsi_atr", out_dir=tmp_path / "run")).result
    end = int(result.run.timeline[-1])
    levels = trade_levels(result.trades, result.run.orders, end)
    trades = {t.entry_order_id: t for t in result.trades}
    orders = {o.client_order_id: o for o in result.run.orders}
    assert levels, "the bracket strategy places a stop and a target for its entries"
    for level in levels:
        trade = trades[level.entry_order_id]
        order = orders[level.client_order_id]
        assert order.parent_id == trade.entry_order_id
        assert trade.entry_ts <= level.start_ts <= level.end_ts
        assert level.end_ts <= (trade.exit_ts if trade.exit_ts is not None else end)
        if level.kind == "stop":
            assert order.order_type is OrderType.STOP and level.price == order.trigger_price
        else:
            assert order.order_type is OrderType.LIMIT and level.price == order.price
        below = level.price < trade.entry_price
        # a long trade's stop sits below its entry and its target above (the reverse for shorts)
        assert below == ((level.kind == "stop") == (trade.side is OrderSide.BUY))
    kinds = {(lv.entry_order_id, lv.kind) for lv in levels}
    for entry in {lv.entry_order_id for lv in levels}:
        assert {(entry, "stop"), (entry, "target")} <= kinds


def test_no_protective_orders_no_levels(tmp_path: Path) -> None:
    result = run_backtest(BacktestRequest("sma_cross", out_dir=tmp_path / "run")).result
    assert result.trades
    assert trade_levels(result.trades, result.run.orders, int(result.run.timeline[-1])) == []
    assert all(t.entry_price > Decimal(0) for t in result.trades)
