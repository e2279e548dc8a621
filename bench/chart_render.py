"""Chart rendering: 500 daily candles to PNG, with volume, two SMAs, trades and their levels.

The trades and their stop and target levels come from a real ma_rsi_atr run on the bundled
GOOG data (a bracket on every entry); the chart shows the run's last 500 bars, as a Telegram
alert would (``candle_chart(bars, last=500, ...)``). The first render in a process loads fonts
and fills matplotlib's caches, so it is reported apart; the median and worst figures are for
warm renders, which is what a long-running bot or server sees. The target is judged on the
worst warm render.

The baseline, in the same run: a plain Agg figure of the same size with one 500-point line,
saved to PNG.

    python bench/chart_render.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_S = 0.5
CANDLES = 500
SIZE = (1200, 700)


def timings(render: Callable[[], bytes], repeat: int) -> list[float]:
    """Seconds per call of ``render``, ``repeat`` times."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        render()
        out.append(time.perf_counter() - start)
    return out


def baseline_png(close: list[float]) -> bytes:
    """One line of ``close`` on a plain Agg figure of the chart's size, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(range(len(close)), close)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["TRADELOOP_HOME"] = folder  # keep the run's files out of ~/.tradeloop
        from tradeloop.analytics.charts import candle_chart
        from tradeloop.analytics.levels import trade_levels
        from tradeloop.model.data import BarSeries
        from tradeloop.services.backtest import BacktestRequest, run_backtest

        result = run_backtest(BacktestRequest("ma_rsi_atr", out_dir=Path(folder) / "run")).result
    bars = result.run.series[0]
    assert isinstance(bars, BarSeries) and len(bars) >= CANDLES
    levels = trade_levels(result.trades, result.run.orders, int(result.run.timeline[-1]))
    first_ts = int(bars.ts[-CANDLES])
    shown_trades = sum(t.entry_ts >= first_ts or (t.exit_ts or 0) >= first_ts
                       for t in result.trades)
    shown_levels = sum(lv.end_ts >= first_ts for lv in levels)

    def chart() -> bytes:
        return candle_chart(bars, last=CANDLES, trades=result.trades, levels=levels,
                            overlays=("sma:20", "sma:50"), size=SIZE)

    close = bars.close[-CANDLES:].tolist()
    cold = timings(chart, 1)[0]
    warm = timings(chart, args.repeat)
    baseline_png(close)  # warm the plain path too
    base = timings(lambda: baseline_png(close), args.repeat)
    median, worst, base_median = statistics.median(warm), max(warm), statistics.median(base)
    png_kb = len(chart()) / 1024
    print(f"{CANDLES} GOOG daily candles + volume + SMA(20), SMA(50), {shown_trades} trades and "
          f"{shown_levels} stop/target lines, {SIZE[0]}x{SIZE[1]} PNG ({png_kb:,.0f} KB), "
          f"{args.repeat} warm renders")
    print(f"  candle chart      median {median:6.3f} s   worst {worst:6.3f} s   "
          f"(first render in the process, cold: {cold:.3f} s)")
    print(f"  plain Agg line    median {base_median:6.3f} s   ({CANDLES} points, same size)  "
          f"candle chart = {median / base_median:,.1f}x plain")
    print(f"  target: < {TARGET_S} s per chart of {CANDLES} candles (worst warm render): "
          f"{'met' if worst < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
