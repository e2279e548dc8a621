"""PNG charts drawn from real backtest results, checked through the figures' artists."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tradeloop.analytics import charts
from tradeloop.analytics.charts import (
    LEVEL_PAD,
    candle_chart,
    candle_figure,
    equity_chart,
    equity_figure,
    trade_chart,
    trade_figure,
)
from tradeloop.analytics.levels import PriceLevel, trade_levels
from tradeloop.analytics.results import BacktestResult
from tradeloop.analytics.trades import Trade
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_HOUR, ns_to_dt
from tradeloop.indicators import EMA, SMA, BollingerBands
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import OrderSide
from tradeloop.services.backtest import BacktestRequest, run_backtest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


def _run(strategy: str, factory: pytest.TempPathFactory) -> BacktestResult:
    # module-scoped, so it runs before the per-test home isolation: isolate it here
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELOOP_HOME", str(factory.mktemp("home")))
        out = factory.mktemp(strategy) / "run"
        return run_backtest(BacktestRequest(strategy, out_dir=out)).result


@pytest.fixture(scope="module")
def bracket(tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    """ma_rsi_atr on bundled GOOG: long trades, each with a bracket stop and target."""
    return _run("ma_rsi_atr", tmp_path_factory)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    """sma_cross on bundled GOOG: no protective orders, and a trade still open at the end."""
    return _run("sma_cross", tmp_path_factory)


def bars_of(result: BacktestResult) -> BarSeries:
    series = result.run.series[0]
    assert isinstance(series, BarSeries)
    return series


def levels_of(result: BacktestResult) -> list[PriceLevel]:
    return trade_levels(result.trades, result.run.orders, int(result.run.timeline[-1]))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def with_gid(fig: Figure, gid: str) -> list[Artist]:
    return fig.findobj(lambda artist: artist.get_gid() == gid)


def line(fig: Figure, gid: str) -> Line2D:
    found = with_gid(fig, gid)
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    assert isinstance(found[0], Line2D)
    return found[0]


def collection(fig: Figure, gid: str) -> LineCollection | PolyCollection:
    found = with_gid(fig, gid)
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    assert isinstance(found[0], LineCollection | PolyCollection)
    return found[0]


def points(artist: Line2D) -> list[tuple[float, float]]:
    xs = np.asarray(artist.get_xdata(), dtype=float)
    ys = np.asarray(artist.get_ydata(), dtype=float)
    return sorted(zip(xs.tolist(), ys.tolist(), strict=True))


def segments(artist: LineCollection) -> list[tuple[float, float, float, float]]:
    return sorted((float(s[0][0]), float(s[0][1]), float(s[1][0]), float(s[1][1]))
                  for s in artist.get_segments())


def assert_segments(drawn: list[tuple[float, float, float, float]],
                    expected: list[tuple[float, float, float, float]]) -> None:
    assert len(drawn) == len(expected)
    np.testing.assert_allclose(np.array(drawn), np.array(sorted(expected)))


def index_in(window_ts: np.ndarray, moment: int) -> int:
    """Position of the bar opening at ``moment`` (the fills here happen at bar open times)."""
    where = np.flatnonzero(window_ts == moment)
    assert where.size == 1
    return int(where[0])


def synthetic_bars(n: int, step: int = NANOS_PER_HOUR, *, volume: bool = True,
                   symbol: str = "SYN") -> BarSeries:
    rng = np.random.default_rng(7)
    ts = 1_704_067_200_000_000_000 + np.arange(n, dtype=np.int64) * step  # 2024-01-01 UTC
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.5, n))
    opens = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(opens, close) + 0.3
    low = np.minimum(opens, close) - 0.3
    vol = rng.uniform(1e3, 5e3, n) if volume else np.zeros(n)
    return BarSeries(symbol, ts, opens, high, low, close, vol, step, "synthetic")


@pytest.fixture
def no_pyplot_figures() -> Iterator[None]:
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []
    yield
    assert plt.get_fignums() == []


# --------------------------------------------------------------------------------------------
# Candles
# --------------------------------------------------------------------------------------------


def test_candle_chart_is_a_png_of_the_asked_size(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    png = candle_chart(bars, last=500, trades=bracket.trades, levels=levels_of(bracket))
    assert png_size(png) == (1200, 700)
    assert png_size(candle_chart(bars, last=80, size=(640, 360))) == (640, 360)


def test_last_n_bars_draws_that_many_candles_and_volume_bars(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    fig = candle_figure(bars, last=120)
    candles = collection(fig, "candles")
    assert len(candles.get_paths()) == 120
    assert len(collection(fig, "wicks").get_segments()) == 120
    assert len(collection(fig, "volume").get_paths()) == 120
    # candle i spans the open and close of the i-th bar of the window
    body = candles.get_paths()[0].vertices
    first = len(bars) - 120
    lo, hi = sorted((bars.open[first], bars.close[first]))
    assert body[:, 1].min() == pytest.approx(lo) and body[:, 1].max() == pytest.approx(hi)
    assert body[:, 0].min() < 0 < body[:, 0].max()


def test_entry_and_exit_markers_sit_at_the_trades_times_and_prices(
    bracket: BacktestResult,
) -> None:
    bars = bars_of(bracket)
    trades = bracket.trades
    # a window that starts inside the third trade and ends inside the sixth
    start = int(bars.ts[index_in(bars.ts, trades[2].entry_ts) + 3])
    end = int(bars.ts[index_in(bars.ts, trades[5].entry_ts) + 2])
    fig = candle_figure(bars, start=start, end=end, trades=trades)
    window = bars.slice_time(start, end).ts

    def inside(moment: int | None) -> bool:
        return moment is not None and start <= moment <= end

    entries = [(float(index_in(window, t.entry_ts)), float(t.entry_price))
               for t in trades if inside(t.entry_ts)]
    exits = [(float(index_in(window, t.exit_ts)), float(t.exit_price))
             for t in trades if inside(t.exit_ts) and t.exit_ts is not None
             and t.exit_price is not None]
    assert any(inside(t.exit_ts) and not inside(t.entry_ts) for t in trades)
    assert any(inside(t.entry_ts) and not inside(t.exit_ts) for t in trades)
    assert entries and exits
    long_entries = line(fig, "entries-long")
    assert long_entries.get_marker() == "^"
    assert points(long_entries) == sorted(entries)
    assert points(line(fig, "exits")) == sorted(exits)
    assert with_gid(fig, "entries-short") == []
    # a dotted path joins the two ends of each trade wholly inside the window
    both = [t for t in trades if inside(t.entry_ts) and inside(t.exit_ts)]
    assert len(collection(fig, "trade-paths").get_segments()) == len(both)


def test_times_inside_a_bar_are_drawn_at_that_bar() -> None:
    bars = synthetic_bars(24)  # hourly, 2024-01-01 00:00 to 23:00 UTC
    half = NANOS_PER_HOUR // 2
    trade = Trade(
        symbol="SYN", strategy_id="s", side=OrderSide.BUY, quantity=Decimal(1),
        entry_ts=int(bars.ts[3]) + half, entry_price=Decimal("101.5"),
        exit_ts=int(bars.ts[-1]) + NANOS_PER_HOUR, exit_price=Decimal("99"),  # after the last bar
        gross_pnl=-2.5, commission=0.0, pnl=-2.5, return_pct=-2.46, entry_order_id="E",
        exit_order_id="X",
    )
    stop = PriceLevel("stop", Decimal("99.5"), trade.entry_ts, int(bars.ts[7]) + half, "S", "E")
    fig = candle_figure(bars, trades=[trade], levels=[stop], overlays=())
    assert points(line(fig, "entries-long")) == [(3.0, 101.5)]
    assert with_gid(fig, "exits") == [] and with_gid(fig, "trade-paths") == []
    assert_segments(segments(collection(fig, "stops")),
                    [(3 - LEVEL_PAD, 99.5, 7 + LEVEL_PAD, 99.5)])
    # a time in the last bar's hour is still on the chart
    late = dataclasses.replace(trade, exit_ts=int(bars.ts[-1]) + NANOS_PER_HOUR - 1)
    fig = candle_figure(bars, trades=[late], overlays=())
    assert points(line(fig, "exits")) == [(23.0, 99.0)]


def test_short_entries_are_down_triangles(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    trade = dataclasses.replace(bracket.trades[0], side=OrderSide.SELL)
    fig = candle_figure(bars, start=int(bars.ts[0]), end=trade.exit_ts, trades=[trade])
    short = line(fig, "entries-short")
    assert short.get_marker() == "v"
    assert points(short) == [(float(index_in(bars.ts, trade.entry_ts)),
                              float(trade.entry_price))]
    assert with_gid(fig, "entries-long") == []


def test_stop_and_target_lines_sit_at_level_prices_over_their_span(
    bracket: BacktestResult,
) -> None:
    bars = bars_of(bracket)
    levels = levels_of(bracket)
    fig = candle_figure(bars, trades=bracket.trades, levels=levels)
    for kind, gid in (("stop", "stops"), ("target", "targets")):
        mine = [lv for lv in levels if lv.kind == kind]
        expected = [(index_in(bars.ts, lv.start_ts) - LEVEL_PAD, float(lv.price),
                     index_in(bars.ts, lv.end_ts) + LEVEL_PAD, float(lv.price)) for lv in mine]
        drawn = collection(fig, gid)
        assert isinstance(drawn, LineCollection)
        assert_segments(segments(drawn), expected)
        red, green, _, _ = drawn.get_color()[0]
        assert (red > green) == (kind == "stop")
        _offset, dashes = drawn.get_linestyle()[0]
        assert dashes, "stop and target lines are dashed"


def test_levels_are_clipped_to_the_window_and_dropped_outside_it(
    bracket: BacktestResult,
) -> None:
    bars = bars_of(bracket)
    levels = levels_of(bracket)
    longest = max(levels, key=lambda lv: lv.end_ts - lv.start_ts)
    first, final = index_in(bars.ts, longest.start_ts), index_in(bars.ts, longest.end_ts)
    assert final - first >= 4
    start = int(bars.ts[first + 2])
    end = int(bars.ts[final + 30])
    fig = candle_figure(bars, start=start, end=end, levels=levels)
    window = bars.slice_time(start, end).ts
    visible = [lv for lv in levels if lv.end_ts >= start and lv.start_ts <= end]
    drawn = segments(collection(fig, "stops")) + segments(collection(fig, "targets"))
    assert len(drawn) == len(visible)
    clipped = [s for s in drawn if s[1] == float(longest.price)]
    assert clipped == [pytest.approx((-LEVEL_PAD, float(longest.price),
                                      index_in(window, longest.end_ts) + LEVEL_PAD,
                                      float(longest.price)))]


def test_overlays_are_the_indicators_over_the_window(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    n = 300
    fig = candle_figure(bars, last=n, overlays=("SMA:20", "ema:10", "bb:20:2.5"))
    close = bars.close
    expected = {
        "overlay:sma:20": SMA(20).batch(close)["value"][-n:],
        "overlay:ema:10": EMA(10).batch(close)["value"][-n:],
    }
    bands = BollingerBands(20, 2.5).batch(close)
    for part in ("middle", "upper", "lower"):
        key = "value" if part == "middle" else part
        expected[f"overlay:bb:20:2.5:{part}"] = bands[key][-n:]
    for gid, values in expected.items():
        drawn = line(fig, gid)
        assert np.array_equal(np.asarray(drawn.get_xdata()), np.arange(n))
        np.testing.assert_allclose(np.asarray(drawn.get_ydata(), dtype=float), values)
    # computed over the bars before the window too, so warmed up from its first bar
    assert np.isfinite(np.asarray(line(fig, "overlay:sma:20").get_ydata(), dtype=float)).all()


def test_default_overlays_are_sma_20_and_50(bracket: BacktestResult) -> None:
    fig = candle_figure(bars_of(bracket), last=60)
    assert len(line(fig, "overlay:sma:20").get_xdata()) == 60
    assert len(line(fig, "overlay:sma:50").get_xdata()) == 60
    assert candle_figure(bars_of(bracket), last=60, overlays=()).findobj(
        lambda a: str(a.get_gid()).startswith("overlay:")) == []


@pytest.mark.parametrize("spec", ["sma", "sma:0", "sma:x", "macd:12", "bb:20:-1", "bb:20:2:3",
                                  "", "sma:20:2"])
def test_a_bad_overlay_spec_is_a_clear_config_error(bracket: BacktestResult, spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        candle_chart(bars_of(bracket), last=50, overlays=("sma:20", spec))
    message = str(caught.value)
    assert repr(spec) in message
    for form in ("sma:N", "ema:N", "bb:N:K"):
        assert form in message


def test_an_empty_trade_list_still_renders(crossing: BacktestResult) -> None:
    bars = bars_of(crossing)
    png = candle_chart(bars, last=200, trades=(), levels=())
    assert png_size(png) == (1200, 700)
    fig = candle_figure(bars, last=200)
    for gid in ("entries-long", "entries-short", "exits", "trade-paths", "stops", "targets"):
        assert with_gid(fig, gid) == []


def test_trades_and_levels_of_other_symbols_are_left_out(bracket: BacktestResult) -> None:
    elsewhere = [dataclasses.replace(t, symbol="MSFT") for t in bracket.trades]
    fig = candle_figure(bars_of(bracket), trades=elsewhere, levels=levels_of(bracket))
    for gid in ("entries-long", "exits", "stops", "targets"):
        assert with_gid(fig, gid) == []


def test_an_open_trade_has_an_entry_and_no_exit(crossing: BacktestResult) -> None:
    open_trade = crossing.trades[-1]
    assert open_trade.is_open
    bars = bars_of(crossing)
    fig = candle_figure(bars, start=open_trade.entry_ts, trades=[open_trade])
    assert points(line(fig, "entries-long")) == [(0.0, float(open_trade.entry_price))]
    assert with_gid(fig, "exits") == []


def test_volume_panel_only_when_wanted_and_present(bracket: BacktestResult) -> None:
    assert len(candle_figure(bars_of(bracket), last=50).axes) == 2
    assert len(candle_figure(bars_of(bracket), last=50, volume=False).axes) == 1
    assert len(candle_figure(synthetic_bars(50, volume=False)).axes) == 1


def test_time_axis_labels_bar_open_times_in_utc(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    fig = candle_figure(bars, last=100)
    bottom = fig.axes[-1]
    label = bottom.xaxis.get_major_formatter()
    assert label(0, 0) == ns_to_dt(int(bars.ts[-100])).strftime("%Y-%m-%d")
    assert label(99, 0) == ns_to_dt(int(bars.ts[-1])).strftime("%Y-%m-%d")
    assert label(0.5, 0) == "" and label(100, 0) == ""
    assert bottom.get_xlabel() == "UTC"
    hourly = synthetic_bars(48)
    hourly_label = candle_figure(hourly).axes[-1].xaxis.get_major_formatter()
    assert hourly_label(5, 0) == "2024-01-01 05:00"


def test_bad_windows_and_sizes_are_config_errors(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    with pytest.raises(ConfigError, match="last"):
        candle_figure(bars, last=0)
    with pytest.raises(ConfigError, match="after it ends"):
        candle_figure(bars, start=int(bars.ts[10]), end=int(bars.ts[5]))
    with pytest.raises(ConfigError, match="no GOOG bars"):
        candle_figure(bars, start=int(bars.ts[-1]) + 1)
    with pytest.raises(ConfigError, match="chart size"):
        candle_figure(bars, size=(10, 10))
    empty = bars.slice_time(int(bars.ts[-1]) + 1)
    with pytest.raises(DataError, match="no bars to chart"):
        candle_figure(empty)


# --------------------------------------------------------------------------------------------
# Equity and drawdown
# --------------------------------------------------------------------------------------------


def test_equity_chart_draws_equity_above_drawdown_in_percent(bracket: BacktestResult) -> None:
    import matplotlib.dates as mdates

    png = equity_chart(bracket.timeline, bracket.equity, bracket.drawdown)
    assert png_size(png) == (1200, 600)
    fig = equity_figure(bracket.timeline, bracket.equity, bracket.drawdown, title="run 1")
    equity_ax, drawdown_ax = fig.axes
    equity = line(fig, "equity")
    assert equity.axes is equity_ax
    np.testing.assert_array_equal(np.asarray(equity.get_ydata()), bracket.equity)
    dd_line = line(fig, "drawdown-line")
    assert dd_line.axes is drawdown_ax
    np.testing.assert_allclose(np.asarray(dd_line.get_ydata()), bracket.drawdown * 100)
    assert len(with_gid(fig, "drawdown")) == 1  # the filled area
    assert drawdown_ax.get_ylim()[1] == 0.0
    assert drawdown_ax.get_ylim()[0] < 100 * bracket.drawdown.min() < 0
    assert equity_ax.get_shared_x_axes().joined(equity_ax, drawdown_ax)
    first = mdates.num2date(float(np.asarray(equity.get_xdata())[0]))
    assert first == ns_to_dt(int(bracket.timeline[0]))
    assert equity_ax.get_title() == "run 1"


def test_equity_chart_rejects_mismatched_or_empty_curves(bracket: BacktestResult) -> None:
    with pytest.raises(DataError, match="one length"):
        equity_figure(bracket.timeline, bracket.equity[:-1], bracket.drawdown)
    with pytest.raises(DataError, match="no points"):
        equity_figure([], [], [])


# --------------------------------------------------------------------------------------------
# One trade
# --------------------------------------------------------------------------------------------


def test_trade_chart_shows_the_trade_with_its_stop_and_target(bracket: BacktestResult) -> None:
    bars = bars_of(bracket)
    levels = levels_of(bracket)
    trade = next(t for t in bracket.trades
                 if sum(lv.entry_order_id == t.entry_order_id for lv in levels) == 2)
    entry, exit_ = index_in(bars.ts, trade.entry_ts), index_in(bars.ts, trade.exit_ts or 0)
    fig = trade_figure(bracket, trade, bars_around=20)
    assert len(collection(fig, "candles").get_paths()) == 20 + (exit_ - entry + 1) + 20
    assert points(line(fig, "entries-long")) == [(20.0, float(trade.entry_price))]
    assert points(line(fig, "exits")) == [(20.0 + exit_ - entry, float(trade.exit_price or 0))]
    for kind, gid in (("stop", "stops"), ("target", "targets")):
        level = next(lv for lv in levels
                     if lv.entry_order_id == trade.entry_order_id and lv.kind == kind)
        drawn = segments(collection(fig, gid))
        assert_segments(drawn, [
            (index_in(bars.ts, level.start_ts) - entry + 20 - LEVEL_PAD, float(level.price),
             index_in(bars.ts, level.end_ts) - entry + 20 + LEVEL_PAD, float(level.price))])
    assert fig.axes[0].get_title().startswith(f"GOOG long {trade.quantity} @ {trade.entry_price}")
    assert png_size(trade_chart(bracket, trade, size=(800, 500))) == (800, 500)


def test_trade_chart_of_an_open_trade_ends_at_the_last_bar(crossing: BacktestResult) -> None:
    trade = crossing.trades[-1]
    bars = bars_of(crossing)
    fig = trade_figure(crossing, trade, bars_around=10)
    assert len(collection(fig, "candles").get_paths()) == len(bars) - index_in(bars.ts,
                                                                                trade.entry_ts) + 10
    assert with_gid(fig, "exits") == []
    assert "open" in fig.axes[0].get_title()


def test_trade_chart_errors(bracket: BacktestResult) -> None:
    trade: Trade = bracket.trades[0]
    with pytest.raises(ConfigError, match="bars_around"):
        trade_chart(bracket, trade, bars_around=-1)
    with pytest.raises(ConfigError, match="no bars of MSFT"):
        trade_chart(bracket, dataclasses.replace(trade, symbol="MSFT"))


# --------------------------------------------------------------------------------------------
# Headless, optional, no leaks
# --------------------------------------------------------------------------------------------


def test_no_figures_are_left_open(bracket: BacktestResult, no_pyplot_figures: None) -> None:
    candle_chart(bars_of(bracket), last=100, trades=bracket.trades, levels=levels_of(bracket))
    equity_chart(bracket.timeline, bracket.equity, bracket.drawdown)
    trade_chart(bracket, bracket.trades[0])
    candle_figure(bars_of(bracket), last=100)


def test_charts_never_touch_pyplot_and_analytics_does_not_import_matplotlib(
    tmp_path: Path,
) -> None:
    script = """
import json, sys
import tradeloop.analytics
before = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "mplfinance"))
from tradeloop.analytics import charts
from tradeloop.model.data import BarSeries
import numpy as np
n = 60
ts = 1_704_067_200_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000_000_000
c = 100 + np.arange(n, dtype=float)
bars = BarSeries("SYN", ts, c, c + 1, c - 1, c + 0.5, np.full(n, 10.0), 3_600_000_000_000)
png = charts.candle_chart(bars)
eq = charts.equity_chart(ts, c, np.zeros(n))
print(json.dumps({"before": before, "pyplot": "matplotlib.pyplot" in sys.modules,
                  "png": png[:8] == eq[:8] == b"\\x89PNG\\r\\n\\x1a\\n"}))
"""
    env = {**os.environ, "TRADELOOP_HOME": str(tmp_path), "MPLBACKEND": "TkAgg",
           "DISPLAY": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"before": [], "pyplot": False, "png": True}


def test_without_the_charts_extra_a_config_error_says_how_to_install(
    bracket: BacktestResult, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    message = "charts need the charts extra: pip install 'tradeloop[charts]'"
    assert message == charts.MISSING_EXTRA
    for draw in (
        lambda: candle_chart(bars_of(bracket)),
        lambda: equity_chart(bracket.timeline, bracket.equity, bracket.drawdown),
        lambda: trade_chart(bracket, bracket.trades[0]),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            draw()
