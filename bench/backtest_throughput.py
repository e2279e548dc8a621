"""Backtest throughput: sma_cross over 1,000,000 synthetic one-minute bars.

Prints bars per second for tradeloop and, measured in the same run, for a bare Python loop that
computes the same signals (SMA 10/30 crossovers, long only) with no engine around it, plus
tradeloop's peak RSS. The bundled sma_cross declares its crossing as a wake condition, so the
engine walks only the bars where it crosses or an order works. Two more runs show what that
saves: the same strategy with ``on_bar`` called on every bar, and the same crossings computed
on every bar with no order ever sent (what the bar loop costs apart from the orders). Each runs
in its own process, so the RSS is tradeloop's alone.

    python bench/backtest_throughput.py [--bars N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import minute_bars


def _timed_backtest(strategy: Any, n: int) -> tuple[Any, float]:
    """Run ``strategy`` over the ``n`` synthetic bars; returns the run and its seconds."""
    from tradeloop.engine.backtest import BacktestConfig, BacktestEngine

    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000)))
    engine.add_data(minute_bars("SYN", n, seed=42))
    engine.add_strategy(strategy)
    started = time.perf_counter()
    run = engine.run()
    return run, time.perf_counter() - started


def run_tradeloop(n: int) -> dict[str, float]:
    from tradeloop.examples.sma_cross import SmaCross

    return _sma_cross(SmaCross(fast=10, slow=30, size=1), n)


def run_every_bar(n: int) -> dict[str, float]:
    """The bundled sma_cross without its wake condition: ``on_bar`` runs on every bar and
    returns early where nothing crosses, so the engine walks every bar."""
    from tradeloop.examples.sma_cross import SmaCross
    from tradeloop.indicators import SMA

    class SmaCrossEveryBar(SmaCross):
        def on_start(self) -> None:
            self.fast_ma = self.indicator(SMA(self.fast))
            self.slow_ma = self.indicator(SMA(self.slow))

    return _sma_cross(SmaCrossEveryBar(fast=10, slow=30, size=1), n)


def _sma_cross(strategy: Any, n: int) -> dict[str, float]:
    run, elapsed = _timed_backtest(strategy, n)
    trips = sum(1 for f in run.fills if f.side == "BUY")
    return {
        "seconds": elapsed,
        "bars_per_s": n / elapsed,
        "entries": trips,
        "final_equity": float(run.final_equity),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_signals_only(n: int) -> dict[str, float]:
    """The same indicators and crossings through the engine, with no order ever sent: what the
    bar loop costs apart from the orders."""
    from tradeloop.indicators import SMA
    from tradeloop.model.data import Bar
    from tradeloop.strategy import Strategy, crossed_above, crossed_below

    class SmaSignals(Strategy):
        def on_start(self) -> None:
            self.fast_ma = self.indicator(SMA(10))
            self.slow_ma = self.indicator(SMA(30))
            self.ups = self.downs = 0

        def on_bar(self, bar: Bar) -> None:
            if crossed_above(self.fast_ma, self.slow_ma):
                self.ups += 1
            elif crossed_below(self.fast_ma, self.slow_ma):
                self.downs += 1

    strategy = SmaSignals()
    _, elapsed = _timed_backtest(strategy, n)
    return {"seconds": elapsed, "bars_per_s": n / elapsed, "ups": strategy.ups,
            "downs": strategy.downs}


def run_bare_loop(n: int) -> dict[str, float]:
    bars = minute_bars("SYN", n, seed=42)
    closes = bars.close.tolist()
    opens = bars.open.tolist()
    started = time.perf_counter()
    fast_n, slow_n = 10, 30
    fast_sum = slow_sum = 0.0
    prev_fast = prev_slow = float("nan")
    long = pending = False
    entries = 0
    cash = 1_000_000.0
    for i, close in enumerate(closes):
        if pending:  # fill at this bar's open
            cash += -opens[i] if not long else opens[i]
            long = not long
            entries += long
            pending = False
        fast_sum += close
        slow_sum += close
        if i >= fast_n:
            fast_sum -= closes[i - fast_n]
        if i >= slow_n:
            slow_sum -= closes[i - slow_n]
        fast = fast_sum / fast_n if i >= fast_n - 1 else float("nan")
        slow = slow_sum / slow_n if i >= slow_n - 1 else float("nan")
        up = prev_fast < prev_slow and fast > slow
        down = prev_fast > prev_slow and fast < slow
        if (up and not long) or (down and long):
            pending = True
        prev_fast, prev_slow = fast, slow
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "bars_per_s": n / elapsed, "entries": entries}


def _child(kind: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--bars", str(n)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=list(_RUNS))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_RUNS[args.child](args.bars)))
        return
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for kind in _RUNS:
            result = _child(kind, args.bars)
            if kind not in best or result["bars_per_s"] > best[kind]["bars_per_s"]:
                best[kind] = result
    tl, bare, signals = best["tradeloop"], best["bare"], best["signals"]
    every = best["every_bar"]
    print(f"workload: sma_cross(10, 30) long-only over {args.bars:,} synthetic 1-minute bars, "
          f"best of {args.repeat}")
    print(f"  bare Python loop : {bare['bars_per_s']:>12,.0f} bars/s  "
          f"({bare['entries']:,.0f} entries)")
    print(f"  tradeloop        : {tl['bars_per_s']:>12,.0f} bars/s  "
          f"({tl['entries']:,.0f} entries, final equity {tl['final_equity']:,.2f})")
    print(f"  ratio bare/tradeloop: {bare['bars_per_s'] / tl['bars_per_s']:.2f}x "
          f"(target <= 3x, >= 1,000,000 bars/s)")
    print(f"  tradeloop peak RSS: {tl['peak_rss_mb']:.0f} MB (target <= 300 MB)")
    print(f"  tradeloop, on_bar on every bar (no wake condition): {every['bars_per_s']:,.0f} "
          f"bars/s ({bare['bars_per_s'] / every['bars_per_s']:.2f}x; {every['entries']:,.0f} "
          f"entries, final equity {every['final_equity']:,.2f}), peak RSS "
          f"{every['peak_rss_mb']:.0f} MB")
    print(f"  tradeloop, the same crossings on every bar and no orders: "
          f"{signals['bars_per_s']:,.0f} bars/s ({signals['ups']:,.0f} crossings up, "
          f"{signals['downs']:,.0f} down)")


_RUNS = {"bare": run_bare_loop, "tradeloop": run_tradeloop, "every_bar": run_every_bar,
         "signals": run_signals_only}


if __name__ == "__main__":
    main()
