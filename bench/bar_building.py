"""Bar building speed: batch ``build_bars`` on 10,000,000 synthetic ticks and the streaming
``BarBuilder`` on 1,000,000, in ticks per second, beside plain baselines measured in the same run.

The batch baseline is a minimal NumPy OHLC of 1-minute buckets (``np.unique`` + ``reduceat``, no
validation); the streaming baseline is a bare Python loop over the same ticks. Each figure is the
best of ``--repeat`` runs. Targets: batch >= 5,000,000 ticks/s, streaming >= 500,000 ticks/s.

    python bench/bar_building.py [--ticks N] [--stream-ticks N] [--repeat K]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from tradeloop.data.bars import BarBuilder, BarSpec, TickBars, TimeBars, VolumeBars, build_bars
from tradeloop.data.timeframes import BucketAlignment
from tradeloop.model.data import Bar, QuoteSeries, TradeSeries

MINUTE_NS = 60_000_000_000
START_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
BATCH_TARGET = 5_000_000
STREAM_TARGET = 500_000


def synthetic_quotes(n: int, seed: int) -> QuoteSeries:
    """EURUSD-like quotes: exponential gaps of 60 ms on average, some bursts, a random walk."""
    rng = np.random.default_rng(seed)
    steps = rng.exponential(60e6, n).astype(np.int64)
    steps[rng.random(n) < 0.05] = 0  # bursts sharing a timestamp
    ts = START_NS + np.cumsum(steps)
    mid = 1.1 + np.cumsum(rng.normal(0.0, 0.00002, n))
    half = rng.integers(1, 4, n) * 0.000005
    ones = np.ones(n)
    bid = np.round(mid - half, 6).astype(np.float64)
    ask = np.round(mid + half, 6).astype(np.float64)
    return QuoteSeries("EURUSD", ts, bid, ask, ones, ones)


def as_trades(quotes: QuoteSeries, seed: int) -> TradeSeries:
    sizes = np.random.default_rng(seed).integers(1, 100, len(quotes)).astype(np.float64)
    return TradeSeries(quotes.symbol, quotes.ts, quotes.bid, sizes)


def numpy_minute_ohlc(quotes: QuoteSeries) -> int:
    """The baseline: 1-minute OHLC + tick count with nothing but NumPy, no checks."""
    mid = (quotes.bid + quotes.ask) * 0.5
    _, first = np.unique(quotes.ts // MINUTE_NS, return_index=True)
    last = np.append(first[1:], mid.shape[0]) - 1
    np.maximum.reduceat(mid, first)
    np.minimum.reduceat(mid, first)
    _ = mid[first], mid[last], np.diff(np.append(first, mid.shape[0]))
    return int(first.shape[0])


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    """The shortest time of ``repeat`` runs, and what the last run returned."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def stream(spec: BarSpec, rows: list[tuple[int, float, float]]) -> list[Bar]:
    out: list[Bar] = []
    on_quote = BarBuilder("EURUSD", spec).on_quote
    for ts, bid, ask in rows:
        closed = on_quote(ts, bid, ask)
        if closed:
            out.extend(closed)
    return out


def bare_loop(rows: list[tuple[int, float, float]]) -> int:
    count = 0
    for _ts, _bid, _ask in rows:
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--stream-ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.ticks, args.repeat
    quotes = synthetic_quotes(n, seed=1)
    trades = as_trades(quotes, seed=2)
    new_york = BucketAlignment("America/New_York", "09:30")

    baseline, minutes = best_of(repeat, lambda: numpy_minute_ohlc(quotes))
    assert len(build_bars(quotes, TimeBars("1m"), include_partial=True)) == minutes
    print(f"batch, {n:,} ticks (best of {repeat}):")
    print(f"  {'numpy baseline: 1m OHLC, no checks':44s} {n / baseline:>13,.0f} ticks/s")
    cases: list[tuple[str, QuoteSeries | TradeSeries, BarSpec]] = [
        ("build_bars quotes, 1m UTC", quotes, TimeBars("1m")),
        ("build_bars trades, 1m UTC", trades, TimeBars("1m")),
        ("build_bars quotes, 1m New York 09:30", quotes, TimeBars("1m", new_york)),
        ("build_bars quotes, 1m UTC carry_forward", quotes, TimeBars("1m", carry_forward=True)),
        ("build_bars trades, 1000-tick bars", trades, TickBars(1000)),
        ("build_bars trades, volume bars (50,000)", trades, VolumeBars(50_000)),
    ]
    for label, ticks, spec in cases:
        seconds, _ = best_of(repeat, partial(build_bars, ticks, spec))
        rate = n / seconds
        print(f"  {label:44s} {rate:>13,.0f} ticks/s  {baseline / seconds:5.2f}x baseline  "
              f"{rate / BATCH_TARGET:5.2f}x target")

    m = min(args.stream_ticks, n)
    rows = list(zip(quotes.ts[:m].tolist(), quotes.bid[:m].tolist(), quotes.ask[:m].tolist(),
                    strict=True))
    bare, _ = best_of(repeat, lambda: bare_loop(rows))
    print(f"streaming, {m:,} quotes (best of {repeat}):")
    print(f"  {'bare Python loop over the ticks':44s} {m / bare:>13,.0f} ticks/s")
    sub = QuoteSeries("EURUSD", quotes.ts[:m], quotes.bid[:m], quotes.ask[:m], quotes.bid_size[:m],
                      quotes.ask_size[:m])
    streams: list[tuple[str, BarSpec]] = [
        ("BarBuilder 1m UTC", TimeBars("1m")),
        ("BarBuilder 1m New York 09:30", TimeBars("1m", new_york)),
        ("BarBuilder 1000-tick bars", TickBars(1000)),
        ("BarBuilder volume bars (500 updates)", VolumeBars(500)),
    ]
    for label, spec in streams:
        seconds, bars = best_of(repeat, partial(stream, spec, rows))
        assert isinstance(bars, list) and len(bars) == len(build_bars(sub, spec))
        rate = m / seconds
        print(f"  {label:44s} {rate:>13,.0f} ticks/s  {rate / STREAM_TARGET:5.2f}x target  "
              f"({seconds / bare:4.1f}x the bare loop's time)")


if __name__ == "__main__":
    main()
