"""MaRsiAtr: entries follow the filtered crossover, and no trade risks more than its budget."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from examples_support import bundled_series, default_run, held_bars, round_trips, run_example

from tradeloop.engine.backtest import BacktestRun
from tradeloop.indicators import ATR, EMA, RSI
from tradeloop.model.orders import Order

TICK = Decimal("0.01")


def _trades(run: BacktestRun) -> list[tuple[Order, Order, Order, float]]:
    # (entry, stop-loss, take-profit, balance before the entry) of each filled entry
    assert len(run.book) == len(run.fills)
    balance_before: dict[str, float] = {}
    balance = float(run.start_equity)
    for fill, book in zip(run.fills, run.book, strict=True):
        balance_before.setdefault(fill.client_order_id, balance)
        balance = book.balance
    trades = []
    for entry in run.orders:
        if entry.tags != ("entry",) or entry.filled_qty == 0:
            continue
        legs = {o.tags[0]: o for o in run.orders if o.parent_id == entry.client_order_id}
        trades.append((entry, legs["stop_loss"], legs["take_profit"],
                       balance_before[entry.client_order_id]))
    return trades


@pytest.mark.parametrize("risk_percent", [1.0, 2.5])
def test_no_trade_risks_more_than_risk_percent_of_equity(risk_percent: float) -> None:
    run = (default_run("ma_rsi_atr") if risk_percent == 1.0
           else run_example("ma_rsi_atr", risk_percent=risk_percent))
    assert run.failures == []
    trades = _trades(run)
    assert len(trades) >= 5
    for entry, stop, _, balance in trades:
        assert entry.avg_px is not None and stop.trigger_price is not None
        risk = entry.filled_qty * (entry.avg_px - stop.trigger_price)
        budget = Decimal(repr(balance)) * Decimal(repr(risk_percent)) / 100
        assert risk <= budget, (entry.client_order_id, risk, budget)
        # the size uses the budget (rounded down to whole shares), not a token amount
        assert risk >= budget * Decimal("0.9"), (entry.client_order_id, risk, budget)


def test_exits_sit_at_atr_multiples_of_the_actual_entry_price() -> None:
    run = default_run("ma_rsi_atr")
    series = bundled_series("GOOG")
    atr = ATR(14).batch(series.high, series.low, series.close)["value"]
    for entry, stop, target, _ in _trades(run):
        j = int(np.searchsorted(series.ts, entry.events[-1].ts)) - 1  # the signal bar
        distance = Decimal(2) * Decimal(repr(float(atr[j])))
        assert entry.avg_px is not None and stop.trigger_price is not None
        assert target.price is not None
        gap = entry.avg_px - stop.trigger_price
        assert distance - TICK < gap <= distance
        assert abs(target.price - (entry.avg_px + 2 * distance)) <= TICK / 2
        assert stop.quantity == target.quantity == entry.quantity


@pytest.mark.parametrize("rsi_min", [50.0, 60.0])
def test_entries_are_exactly_the_rsi_filtered_crossovers_while_flat(rsi_min: float) -> None:
    run = (default_run("ma_rsi_atr") if rsi_min == 50.0
           else run_example("ma_rsi_atr", rsi_min=rsi_min))
    series = bundled_series("GOOG")
    fast = EMA(20).batch(series.close)["value"]
    slow = EMA(50).batch(series.close)["value"]
    rsi = RSI(14).batch(series.close)["value"]
    held = held_bars(run.fills, series.ts)
    entry_bars = set()
    for entry, _, _, _ in _trades(run):
        fill_bar = int(np.searchsorted(series.ts, entry.events[-1].ts))
        assert series.ts[fill_bar] == entry.events[-1].ts  # filled at the next bar's open
        entry_bars.add(fill_bar - 1)
    crosses = np.flatnonzero((fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])) + 1
    expected = {int(j) for j in crosses if rsi[j] > rsi_min and not held[j] and j + 1 < len(series)}
    assert entry_bars == expected
    filtered_out = [j for j in crosses if rsi[j] <= rsi_min]
    assert bool(filtered_out) == (rsi_min == 60.0)  # on GOOG only the stricter filter bites


def test_every_trade_ends_by_stop_target_or_cross_and_cancels_the_rest() -> None:
    run = default_run("ma_rsi_atr")
    kinds = set()
    for entry, stop, target, _ in _trades(run):
        filled = [leg for leg in (stop, target) if leg.status.name == "FILLED"]
        if filled:
            kinds.add(filled[0].tags[0])
            other = target if filled[0] is stop else stop
            assert other.status.name == "CANCELED"
        else:
            kinds.add("cross_exit")
            assert stop.status.name == target.status.name == "CANCELED"
            exits = [o for o in run.orders if o.tags == ("cross_exit",)
                     and o.ts_init >= entry.ts_init]
            assert exits
    assert "stop_loss" in kinds
    assert len(round_trips(run.fills)) == len(_trades(run))


def test_a_size_that_rounds_to_zero_skips_the_trade() -> None:
    run = run_example("ma_rsi_atr", cash=Decimal(1_000), risk_percent=0.01)
    assert run.failures == []  # budget: 10 cents against stops dollars away
    assert run.fills == []
    assert run.orders == []


def test_sma_variant_trades_and_bad_settings_stop_the_strategy() -> None:
    run = run_example("ma_rsi_atr", ma_type="sma", fast=10, slow=30)
    assert run.failures == []
    assert len(round_trips(run.fills)) >= 1
    bad = run_example("ma_rsi_atr", ma_type="wma")
    assert [f.hook for f in bad.failures] == ["on_start"]
    assert "ma_type" in bad.failures[0].error
    assert bad.fills == []
