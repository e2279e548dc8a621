"""Store reads against CSV parsing: 1,000,000 one-minute bars (about two years) written to a CSV
file and to a :class:`~tradeloop.data.store.DataStore`, then read back whole from each, and one
day read from the store to show a range read opens only what it needs.

    python bench/store_read.py [--rows N] [--repeat N]

Target: reading the bars from the store takes less time than one CSV parse by ``load_bars``
(ratio store/CSV below 1). ``pandas.read_csv`` of the same file is printed for reference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import MINUTE_NS, START_NS, minute_bars
from tradeloop.core.time import NANOS_PER_DAY, ns_to_iso
from tradeloop.data import load_bars
from tradeloop.data.store import DataStore


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The shortest of ``repeat`` timed runs, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat
    bars = minute_bars("SYN", n, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "SYN.csv"
        pd.DataFrame({
            "Date": pd.to_datetime(bars.ts, utc=True).strftime("%Y-%m-%d %H:%M:%S"),
            "Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
            "Volume": bars.volume,
        }).to_csv(csv, index=False)
        store = DataStore(Path(tmp) / "store")
        started = time.perf_counter()
        written = store.write_bars(bars)
        write_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in written.partitions_written)

        start, end = START_NS, START_NS + (n - 1) * MINUTE_NS
        whole = store.read_bars("SYN", "1m", start_ns=start, end_ns=end)
        assert len(whole) == n and np.array_equal(whole.close, bars.close)
        day_start = START_NS + 365 * NANOS_PER_DAY
        day = store.read_bars("SYN", "1m", start_ns=day_start,
                              end_ns=day_start + NANOS_PER_DAY - 1)

        store_s = best_of(repeat, lambda: store.read_bars("SYN", "1m", start_ns=start,
                                                          end_ns=end))
        day_s = best_of(repeat, lambda: store.read_bars(
            "SYN", "1m", start_ns=day_start, end_ns=day_start + NANOS_PER_DAY - 1))
        csv_s = best_of(repeat, lambda: load_bars(csv))
        pandas_s = best_of(repeat, lambda: pd.read_csv(csv))

    print(f"{n:,} one-minute bars, {ns_to_iso(start)} to {ns_to_iso(end)}; best of {repeat}")
    print(f"  store write (one-off)        {write_s:8.3f} s  "
          f"({len(written.partitions_written)} partitions, {size / 1e6:.1f} MB)")
    print(f"  store read, whole range      {store_s:8.3f} s")
    print(f"  load_bars, CSV parse         {csv_s:8.3f} s")
    print(f"  pandas.read_csv (reference)  {pandas_s:8.3f} s")
    print(f"  ratio store/CSV              {store_s / csv_s:8.3f}  (target < 1)")
    print(f"  store read, one day          {day_s * 1e3:8.2f} ms  ({len(day):,} bars of "
          f"{ns_to_iso(day_start)[:10]})")


if __name__ == "__main__":
    main()
