"""Loading speed: a 1,000,000-row one-minute CSV through ``load_bars`` (parse, validate, gaps),
against pandas' bare ``read_csv`` of the same file measured in the same run.

    python bench/data_loading.py [--rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tradeloop.data import load_bars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.rows
    close = 100 + np.cumsum(np.random.default_rng(1).normal(0, 0.01, n))
    frame = pd.DataFrame({
        "Date": pd.date_range("2015-01-01", periods=n, freq="min"),
        "Open": close.round(4), "High": (close + 0.01).round(4),
        "Low": (close - 0.01).round(4), "Close": close.round(4), "Volume": 1,
    })
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bars.csv"
        frame.to_csv(path, index=False)
        started = time.perf_counter()
        pd.read_csv(path)
        bare = time.perf_counter() - started
        started = time.perf_counter()
        bars = load_bars(path).bars
        ours = time.perf_counter() - started
    assert len(bars) == n
    print(f"{n:,} rows: pandas read_csv {bare:.2f} s, tradeloop load_bars {ours:.2f} s "
          f"({ours / bare:.2f}x the bare read, {n / ours:,.0f} rows/s)")


if __name__ == "__main__":
    main()
