"""Every bundled example runs on its bundled data, trades, and trades when its rules say so."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np
import pytest
from examples_support import bundled_series, default_run, held_bars, round_trips, run_example

from tradeloop.examples import EXAMPLE_DATA, EXAMPLES
from tradeloop.indicators import RSI, BollingerBands
from tradeloop.model.enums import OrderSide


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_on_its_bundled_data_and_trades(name: str) -> None:
    run = default_run(name)
    assert run.failures == []
    assert run.bars == len(bundled_series(EXAMPLE_DATA[name]))
    assert len(round_trips(run.fills)) >= 1
    assert all(o.status.name not in ("DENIED", "REJECTED") for o in run.orders)
    assert math.isfinite(float(run.final_equity)) and run.final_equity > 0
    assert run.start_equity == Decimal(100_000)


def _bar_index(ts: np.ndarray, fill_ts: int) -> int:
    i = int(np.searchsorted(ts, fill_ts))
    assert ts[i] == fill_ts  # market orders fill at a bar's open
    return i


def test_rsi_reversion_trades_exactly_its_rule() -> None:
    run = default_run("rsi_reversion")
    series = bundled_series("GOOG")
    rsi = RSI(14).batch(series.close)["value"]
    expected: list[tuple[int, OrderSide]] = []
    long = False
    for j in range(1, len(series) - 1):  # decide on bar j's close, fill at bar j + 1's open
        if long and (rsi[j] > 50 or (rsi[j - 1] < 70 < rsi[j])):
            expected.append((j + 1, OrderSide.SELL))
            long = False
        elif not long and rsi[j - 1] < 30 < rsi[j]:
            expected.append((j + 1, OrderSide.BUY))
            long = True
    got = [(_bar_index(series.ts, f.ts), f.side) for f in run.fills]
    assert got == expected
    assert all(f.last_qty == 100 for f in run.fills)
    for (i, _), fill in zip(got, run.fills, strict=True):
        assert fill.last_px == Decimal(repr(float(series.open[i])))


def test_rsi_reversion_short_side() -> None:
    run = run_example("rsi_reversion", allow_short=True, size=10)
    assert run.failures == []
    trips = round_trips(run.fills)
    shorts = [t for t in trips if t[0].side is OrderSide.SELL]
    longs = [t for t in trips if t[0].side is OrderSide.BUY]
    assert shorts and longs
    series = bundled_series("GOOG")
    rsi = RSI(14).batch(series.close)["value"]
    for opening, closing in shorts:
        j = _bar_index(series.ts, opening.ts) - 1
        assert rsi[j - 1] > 70 > rsi[j]
        k = _bar_index(series.ts, closing.ts) - 1
        assert rsi[k] < 50 or rsi[k - 1] > 30 > rsi[k]
    without = default_run("rsi_reversion")
    assert all(f.side is OrderSide.BUY for f, _ in round_trips(without.fills))


def test_bollinger_breakout_enters_above_upper_band_and_exits_below_middle() -> None:
    run = default_run("bollinger_breakout")
    series = bundled_series("GOOG")
    bands = BollingerBands(20, 2.0).batch(series.close)
    assert len(run.book) == len(run.fills)
    balance = 100_000.0
    long = False
    entries = 0
    for fill, book in zip(run.fills, run.book, strict=True):
        j = _bar_index(series.ts, fill.ts) - 1  # the signal bar
        close = float(series.close[j])
        if fill.side is OrderSide.BUY:
            assert not long
            assert close > bands["upper"][j]
            budget = Decimal(repr(balance)) * Decimal(50) / 100
            assert fill.last_qty == (budget / Decimal(repr(close))).to_integral_value(ROUND_DOWN)
            entries += 1
        else:
            assert long
            assert close < bands["value"][j]
        long = not long
        balance = book.balance
    assert entries >= 10
    # no missed signal: every close above the upper band while flat led to an entry
    held = held_bars(run.fills, series.ts)
    signals = np.flatnonzero(series.close[:-1] > bands["upper"][:-1])
    for k in signals.tolist():
        if not held[k]:
            assert held[k + 1], f"breakout at bar {k} not taken"
