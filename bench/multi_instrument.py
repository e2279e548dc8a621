"""Merging many instruments: 10 instruments of 100,000 one-minute bars each, one sma_cross
strategy per instrument, all on one kernel and one time-ordered stream.

Prints bars per second for tradeloop and, in the same run, for a bare Python loop computing the
same signals instrument by instrument (no merging), plus tradeloop's peak RSS.

    python bench/multi_instrument.py [--instruments N] [--bars N]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import minute_bars
from backtest_throughput import run_bare_loop


def run_tradeloop(instruments: int, n: int) -> dict[str, float]:
    from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
    from tradeloop.examples.sma_cross import SmaCross

    engine = BacktestEngine(BacktestConfig(cash=Decimal(10_000_000)))
    for k in range(instruments):
        symbol = f"SYN{k}"
        engine.add_data(minute_bars(symbol, n, seed=100 + k))
        engine.add_strategy(SmaCross(strategy_id=f"sma-{symbol}"), [symbol])
    started = time.perf_counter()
    run = engine.run()
    elapsed = time.perf_counter() - started
    return {
        "bars_per_s": instruments * n / elapsed,
        "fills": len(run.fills),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_bare(instruments: int, n: int) -> dict[str, float]:
    seconds = 0.0
    for _ in range(instruments):
        seconds += run_bare_loop(n)["seconds"]
    return {"bars_per_s": instruments * n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=10)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--child", choices=["tradeloop", "bare"])
    args = parser.parse_args()
    if args.child:
        fn = run_tradeloop if args.child == "tradeloop" else run_bare
        print(json.dumps(fn(args.instruments, args.bars)))
        return
    results = {}
    for kind in ("bare", "tradeloop"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--instruments", str(args.instruments),
             "--bars", str(args.bars)], check=True, capture_output=True, text=True,
        )
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    tl, bare = results["tradeloop"], results["bare"]
    total = args.instruments * args.bars
    print(f"workload: {args.instruments} instruments x {args.bars:,} bars = {total:,} bars, "
          "one sma_cross(10, 30) per instrument")
    print(f"  bare Python loop : {bare['bars_per_s']:>12,.0f} bars/s")
    print(f"  tradeloop        : {tl['bars_per_s']:>12,.0f} bars/s  ({tl['fills']:,.0f} fills)")
    print(f"  ratio bare/tradeloop: {bare['bars_per_s'] / tl['bars_per_s']:.2f}x")
    print(f"  tradeloop peak RSS: {tl['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
