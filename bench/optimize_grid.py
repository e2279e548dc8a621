"""Optimisation throughput: a 200-combination grid of sma_cross over 100,000 synthetic one-minute
bars, on 1 worker and on 2 local worker processes, in the same run.

Prints combinations per second for each, the speed-up of 2 workers over 1 (the baseline
measured in the same run), and checks both rank the combinations identically. The data goes
through the real path: a Parquet file loaded by the backtest service, shipped to each worker
once inside the trial job.

    python bench/optimize_grid.py [--bars N] [--workers W]

Targets (issue 6): a speed-up of at least 1.7x on 2 cores, and at least 10 combinations per
second with 2 workers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import minute_bars
from tradeloop.optimize import ProcessExecutor, SearchSpace, SerialExecutor, run_grid
from tradeloop.optimize.executors import Executor
from tradeloop.services.backtest import BacktestRequest, prepare_backtest
from tradeloop.services.trial_job import BacktestJob, parse_objective

SPACE = ("fast=2:20:2", "slow=30:220:10")  # 10 x 20 = 200 combinations


def _write_bars(folder: Path, n: int) -> Path:
    bars = minute_bars("SYN", n, seed=42)
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(bars.ts, utc=True), "open": bars.open,
        "high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume})
    path = folder / "SYN.parquet"
    frame.to_parquet(path, index=False)
    return path


def _search(job: BacktestJob, executor: Executor) -> tuple[float, list[tuple[str, float]]]:
    space = SearchSpace.parse(SPACE)
    started = time.perf_counter()
    results = run_grid(space, job, executor)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if r.outcome.error]
    if failed:
        raise SystemExit(f"{len(failed)} trials failed, the first: {failed[0].outcome.error}")
    return elapsed, [(str(r.params), r.value) for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = _write_bars(Path(folder), args.bars)
        prepared = prepare_backtest(BacktestRequest("sma_cross", data=(str(path),),
                                                    cash="1000000"))
    job = BacktestJob(prepared, parse_objective("sharpe"))
    combos = len(SearchSpace.parse(SPACE).grid())
    started = time.perf_counter()
    job({"fast": 10, "slow": 30})
    one = time.perf_counter() - started
    serial_s, serial = _search(job, SerialExecutor())
    parallel_s, parallel = _search(job, ProcessExecutor(args.workers))
    same = serial == parallel
    speedup = serial_s / parallel_s
    print(f"workload: {combos}-combination grid of sma_cross ({SPACE[0]}, {SPACE[1]}) over "
          f"{args.bars:,} one-minute bars, objective sharpe")
    print(f"  one backtest (engine + metrics) : {one:8.3f} s ({args.bars / one:,.0f} bars/s)")
    print(f"  1 worker  (baseline)            : {combos / serial_s:8.2f} combinations/s "
          f"({serial_s:.1f} s)")
    print(f"  {args.workers} workers (local processes)    : {combos / parallel_s:8.2f} "
          f"combinations/s ({parallel_s:.1f} s)")
    print(f"  speed-up {args.workers} workers / 1 worker    : {speedup:8.2f}x "
          f"(target >= 1.7x with 2 workers)")
    print(f"  target >= 10 combinations/s with 2 workers: "
          f"{'met' if combos / parallel_s >= 10 else 'NOT met'}")
    print(f"  same ranking on both: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
