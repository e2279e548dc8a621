"""Synthetic one-minute bars from a fixed seed, shared by the benchmarks."""

from __future__ import annotations

import numpy as np

from tradeloop.model.data import BarSeries

MINUTE_NS = 60_000_000_000
START_NS = 1_577_836_800_000_000_000  # 2020-01-01T00:00:00Z


def minute_bars(symbol: str, n: int, seed: int) -> BarSeries:
    """A geometric random walk of ``n`` one-minute bars, prices on a 0.01 tick."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.0005, n)
    close = np.round(100.0 * np.exp(np.cumsum(steps)), 2)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]), 2)
    spread = np.round(np.abs(rng.normal(0.0, 0.03, n)), 2)
    high = np.maximum(open_, close) + spread
    low = np.maximum(np.minimum(open_, close) - spread, 0.01)
    volume = rng.integers(1, 1_000, n).astype(np.float64)
    ts = START_NS + np.arange(n, dtype=np.int64) * MINUTE_NS
    return BarSeries(symbol, ts, open_, high, low, close, volume, MINUTE_NS, "synthetic")
