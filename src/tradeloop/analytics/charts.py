"""PNG charts of bars, trades and equity, drawn headless on matplotlib's Agg canvas.

Candles with a volume panel, moving-average or Bollinger overlays, trade entries and exits, and
the stop and target levels that guarded each trade; an equity curve above its drawdown. Every
chart is a standalone :class:`matplotlib.figure.Figure` on an Agg canvas, built without pyplot:
nothing needs a display, no global state changes, and nothing is registered that would need
closing (a figure is freed with its last reference). The ``*_figure`` functions return the
figure, to inspect or restyle; the ``*_chart`` functions return PNG bytes.

The candle x axis counts bars: bar ``i`` of the window is centred on ``x = i``, so nights,
weekends and holidays leave no gaps, and the tick labels give bar open times in UTC. A time is
drawn at the bar that contains it. Artists carry a ``gid`` (``"candles"``, ``"wicks"``,
``"volume"``, ``"overlay:<spec>"``, ``"entries-long"``, ``"entries-short"``, ``"exits"``,
``"trade-paths"``, ``"stops"``, ``"targets"``; ``"equity"``, ``"drawdown"``) so callers and tests
can find them.

matplotlib is an optional extra: ``pip install 'tradeloop[charts]'``. Importing this module does
not import it; drawing a chart without it raises :class:`~tradeloop.core.errors.ConfigError`.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.levels import PriceLevel, trade_levels
from tradeloop.analytics.trades import Trade
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import (
    NANOS_PER_DAY,
    NANOS_PER_MINUTE,
    ns_to_dt,
    ns_to_iso,
    timeframe_label,
)
from tradeloop.indicators import EMA, SMA, BollingerBands
from tradeloop.indicators.base import Indicator
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import OrderSide

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tradeloop.analytics.results import BacktestResult

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MISSING_EXTRA = "charts need the charts extra: pip install 'tradeloop[charts]'"
#: The overlays drawn unless told otherwise.
DEFAULT_OVERLAYS = ("sma:20", "sma:50")
#: The overlay spellings :func:`candle_figure` accepts.
OVERLAY_FORMS = ("sma:N", "ema:N", "bb:N", "bb:N:K")
#: Half the width a stop or target line reaches past the centres of its first and last bars.
LEVEL_PAD = 0.4

_DPI = 100
_BODY_HALF_WIDTH = 0.3
_UP = "#26a69a"
_DOWN = "#ef5350"
_STOP = "#d62728"
_TARGET = "#2ca02c"
_EXIT = "#37474f"
_OVERLAY_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2")
_MARGINS_PX = {"left": 72, "right": 48, "top": 36, "bottom": 44}
_PANEL_GAP_PX = 6
_VOLUME_SHARE = 0.22
_DRAWDOWN_SHARE = 0.3
_OVERLAY_RE = re.compile(r"(sma|ema):(\d+)|bb:(\d+)(?::(\d+(?:\.\d*)?|\.\d+))?")


def _require_matplotlib() -> None:
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None


def candle_figure(
    bars: BarSeries, *, start: int | None = None, end: int | None = None,
    last: int | None = None, trades: Sequence[Trade] = (), levels: Sequence[PriceLevel] = (),
    overlays: Sequence[str] = DEFAULT_OVERLAYS, volume: bool = True, title: str = "",
    size: tuple[int, int] = (1200, 700),
) -> Figure:
    """Candles of ``bars`` with overlays, trades and their stop and target levels.

    Parameters
    ----------
    bars : BarSeries
        The bars to draw from.
    start, end : int, optional
        The window, UTC nanoseconds, both inclusive (bar open times).
    last : int, optional
        Show only the last ``last`` bars of the window.
    trades : sequence of Trade
        Entries are drawn as triangles (up for long, down for short) and exits as crosses, at
        the trades' prices and at the bars that contain their times; a dotted line joins the
        two, green for a winner and red for a loser. Trades in other symbols, and the ends of
        trades outside the window, are left out.
    levels : sequence of PriceLevel
        Stops (red, dashed) and targets (green, dashed), each drawn over the bars its order
        was working, clipped to the window; levels outside the window are left out, and so are
        levels of given trades in other symbols.
    overlays : sequence of str
        ``"sma:N"``, ``"ema:N"`` (moving averages of the close over ``N`` bars) or
        ``"bb:N:K"`` (Bollinger bands, ``K`` standard deviations, default 2). They are computed
        over the bars before the window too, so they start at its first bar once warmed up.
    volume : bool, default True
        Add a volume panel, when the bars in the window have any volume.
    title : str, optional
        Default: the symbol and bar length.
    size : tuple of int, default (1200, 700)
        Width and height in pixels.

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas; not known to pyplot.

    Raises
    ------
    ConfigError
        For a bad overlay spec, size or window, a window with no bars, or without the charts
        extra.
    DataError
        If ``bars`` is empty.
    """
    _require_matplotlib()
    specs = [_parse_overlay(spec) for spec in overlays]
    width, height = _check_size(size)
    lo, hi = _window(bars, start, end, last)
    ts = bars.ts[lo:hi]
    step = _step(bars)
    fig = _new_figure(width, height)
    show_volume = volume and bool(np.any(bars.volume[lo:hi] > 0))
    price_ax, volume_ax = _stacked_axes(fig, width, height, _VOLUME_SHARE if show_volume else 0.0)
    _draw_candles(price_ax, bars, lo, hi)
    if volume_ax is not None:
        _draw_volume(volume_ax, bars, lo, hi)
    for k, spec in enumerate(specs):
        _draw_overlay(price_ax, spec, bars, lo, hi, _OVERLAY_COLOURS[k % len(_OVERLAY_COLOURS)])
    shown = [t for t in trades if t.symbol == bars.symbol]
    elsewhere = {t.entry_order_id for t in trades if t.symbol != bars.symbol}
    _draw_levels(price_ax, [lv for lv in levels if lv.entry_order_id not in elsewhere], ts, step)
    _draw_trades(price_ax, shown, ts, step)
    price_ax.set_xlim(-1.0, len(ts))
    price_ax.autoscale_view(scalex=False)
    _format_bar_axis(volume_ax if volume_ax is not None else price_ax, ts, step, width)
    price_ax.set_title(title or f"{bars.symbol} {timeframe_label(step)}".strip(), fontsize=11)
    if price_ax.get_legend_handles_labels()[0]:
        price_ax.legend(loc="upper left", fontsize=8, ncols=4, framealpha=0.7)
    logger.debug("candle chart of %s: %d bars, %d trades, %d levels", bars.symbol, len(ts),
                 len(shown), len(levels))
    return fig


def candle_chart(
    bars: BarSeries, *, start: int | None = None, end: int | None = None,
    last: int | None = None, trades: Sequence[Trade] = (), levels: Sequence[PriceLevel] = (),
    overlays: Sequence[str] = DEFAULT_OVERLAYS, volume: bool = True, title: str = "",
    size: tuple[int, int] = (1200, 700),
) -> bytes:
    """The PNG of :func:`candle_figure` (same parameters)."""
    return figure_png(candle_figure(
        bars, start=start, end=end, last=last, trades=trades, levels=levels,
        overlays=overlays, volume=volume, title=title, size=size,
    ))


def equity_figure(
    timeline_ns: npt.ArrayLike, equity: npt.ArrayLike, drawdown: npt.ArrayLike, *,
    title: str = "", size: tuple[int, int] = (1200, 600),
) -> Figure:
    """Equity on top and drawdown (percent, filled below 0) underneath, on one time axis.

    Parameters
    ----------
    timeline_ns : array_like of int
        UTC nanoseconds, increasing (``BacktestResult.timeline``).
    equity : array_like of float
        Equity at each time (``BacktestResult.equity``).
    drawdown : array_like of float
        Fraction below the running peak at each time, ``<= 0`` (``BacktestResult.drawdown``).
    title : str, optional
        Default ``"Equity and drawdown"``.
    size : tuple of int, default (1200, 600)
        Width and height in pixels.

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas; not known to pyplot. Dates on the x axis are UTC.

    Raises
    ------
    DataError
        If the three arrays are not 1-D of one non-zero length.
    ConfigError
        For a bad size, or without the charts extra.
    """
    _require_matplotlib()
    import matplotlib.dates as mdates
    from matplotlib.ticker import PercentFormatter

    ts = np.asarray(timeline_ns, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    dd_pct = np.asarray(drawdown, dtype=np.float64) * 100.0
    if ts.ndim != 1 or values.shape != ts.shape or dd_pct.shape != ts.shape:
        raise DataError(
            f"equity chart: timeline, equity and drawdown must be 1-D and of one length, got "
            f"shapes {ts.shape}, {values.shape} and {dd_pct.shape}"
        )
    if ts.size == 0:
        raise DataError("equity chart: no points to draw")
    width, height = _check_size(size)
    fig = _new_figure(width, height)
    equity_ax, dd_ax = _stacked_axes(fig, width, height, _DRAWDOWN_SHARE)
    assert dd_ax is not None
    x = mdates.date2num(ts.astype("datetime64[ns]"))  # type: ignore[no-untyped-call]
    equity_ax.plot(x, values, color=_OVERLAY_COLOURS[0], linewidth=1.2, gid="equity",
                   label="equity")
    worst = float(np.nanmin(dd_pct)) if np.isfinite(dd_pct).any() else 0.0
    dd_ax.fill_between(x, dd_pct, 0.0, color=_STOP, alpha=0.3, linewidth=0,
                       gid="drawdown", label=f"drawdown (max {worst:.2f}%)")
    dd_ax.plot(x, dd_pct, color=_STOP, linewidth=0.8, gid="drawdown-line")
    dd_ax.set_ylim(worst * 1.08 if worst < 0 else -1.0, 0.0)
    dd_ax.yaxis.set_major_formatter(PercentFormatter(xmax=100))
    locator = mdates.AutoDateLocator(  # type: ignore[no-untyped-call]
        tz="UTC", minticks=3, maxticks=max(4, width // 130))
    dd_ax.xaxis.set_major_locator(locator)
    dd_ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz="UTC"))  # type: ignore[no-untyped-call]
    dd_ax.set_xlabel("UTC", fontsize=8)
    for ax in (equity_ax, dd_ax):
        ax.legend(loc="upper left", fontsize=8, framealpha=0.7)
    equity_ax.set_title(title or "Equity and drawdown", fontsize=11)
    return fig


def equity_chart(
    timeline_ns: npt.ArrayLike, equity: npt.ArrayLike, drawdown: npt.ArrayLike, *,
    title: str = "", size: tuple[int, int] = (1200, 600),
) -> bytes:
    """The PNG of :func:`equity_figure` (same parameters)."""
    return figure_png(equity_figure(timeline_ns, equity, drawdown, title=title, size=size))


def trade_figure(
    result: BacktestResult, trade: Trade, *, bars_around: int = 60,
    overlays: Sequence[str] = DEFAULT_OVERLAYS, size: tuple[int, int] = (1200, 700),
) -> Figure:
    """The candles around one trade, with its entry, exit, stop and target.

    Parameters
    ----------
    result : BacktestResult
        The run the trade belongs to: its bars and orders.
    trade : Trade
        One of ``result.trades``.
    bars_around : int, default 60
        Bars shown before the entry and after the exit (after the last bar of an open trade
        there are none).
    overlays : sequence of str
        As for :func:`candle_figure`.
    size : tuple of int, default (1200, 700)
        Width and height in pixels.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ConfigError
        If the result has no bars of the trade's symbol, ``bars_around`` is negative, or as
        :func:`candle_figure`.
    """
    if isinstance(bars_around, bool) or bars_around < 0:
        raise ConfigError(f"bars_around must be a whole number >= 0, got {bars_around!r}")
    bars = next((s for s in result.run.series
                 if isinstance(s, BarSeries) and s.symbol == trade.symbol), None)
    if bars is None or len(bars) == 0:
        raise ConfigError(f"the result has no bars of {trade.symbol} to chart the trade on")
    n = len(bars)
    first = max(int(np.searchsorted(bars.ts, trade.entry_ts, side="right")) - 1, 0)
    close_ts = trade.exit_ts if trade.exit_ts is not None else int(bars.ts[-1])
    final = max(int(np.searchsorted(bars.ts, close_ts, side="right")) - 1, first)
    lo = max(first - bars_around, 0)
    hi = min(final + bars_around, n - 1)
    levels = trade_levels([trade], result.run.orders, int(result.run.timeline[-1]))
    return candle_figure(
        bars, start=int(bars.ts[lo]), end=int(bars.ts[hi]), trades=[trade], levels=levels,
        overlays=overlays, title=_trade_title(trade), size=size,
    )


def trade_chart(
    result: BacktestResult, trade: Trade, *, bars_around: int = 60,
    overlays: Sequence[str] = DEFAULT_OVERLAYS, size: tuple[int, int] = (1200, 700),
) -> bytes:
    """The PNG of :func:`trade_figure` (same parameters), for a fill or close alert."""
    return figure_png(trade_figure(result, trade, bars_around=bars_around, overlays=overlays,
                                   size=size))


def figure_png(fig: Figure) -> bytes:
    """Render ``fig`` (a figure made here) to PNG bytes at its own size and resolution."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, metadata={"Software": None})
    return buffer.getvalue()


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"chart size must be (width, height) in pixels, got {size!r}") from None
    if not (200 <= width <= 10_000 and 150 <= height <= 10_000):
        raise ConfigError(
            f"chart size {width}x{height} is out of range: width 200 to 10000 and height 150 "
            "to 10000 pixels"
        )
    return width, height


def _new_figure(width: int, height: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _stacked_axes(fig: Figure, width: int, height: int,
                  lower_share: float) -> tuple[Axes, Axes | None]:
    left = _MARGINS_PX["left"] / width
    right = 1.0 - _MARGINS_PX["right"] / width
    bottom = _MARGINS_PX["bottom"] / height
    top = 1.0 - _MARGINS_PX["top"] / height
    span = top - bottom
    if lower_share <= 0:
        return _styled(fig.add_axes((left, bottom, right - left, span))), None
    gap = _PANEL_GAP_PX / height
    lower_height = span * lower_share
    upper = _styled(fig.add_axes(
        (left, bottom + lower_height + gap, right - left, span - lower_height - gap)))
    lower = _styled(fig.add_axes((left, bottom, right - left, lower_height), sharex=upper))
    upper.tick_params(labelbottom=False)
    return upper, lower


def _styled(ax: Axes) -> Axes:
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    return ax


def _window(bars: BarSeries, start: int | None, end: int | None,
            last: int | None) -> tuple[int, int]:
    if len(bars) == 0:
        raise DataError(f"{bars.source or bars.symbol}: no bars to chart")
    if last is not None and (isinstance(last, bool) or last < 1):
        raise ConfigError(f"last must be a whole number of bars >= 1, got {last!r}")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"chart window starts ({ns_to_iso(start)}) after it ends "
                          f"({ns_to_iso(end)})")
    lo = 0 if start is None else int(np.searchsorted(bars.ts, start, side="left"))
    hi = len(bars) if end is None else int(np.searchsorted(bars.ts, end, side="right"))
    if last is not None:
        lo = max(lo, hi - last)
    if hi <= lo:
        since = ns_to_iso(start) if start is not None else "the start"
        until = ns_to_iso(end) if end is not None else "the end"
        raise ConfigError(f"no {bars.symbol} bars from {since} to {until} to chart")
    return lo, hi


def _step(bars: BarSeries) -> int:
    if bars.timeframe_ns > 0:
        return bars.timeframe_ns
    if len(bars) > 1:
        return int(np.median(np.diff(bars.ts)))
    return 0


def _bar_of(ts: IntArray, step: int, moment: int) -> int | None:
    # the index of the bar of the window that contains ``moment``, None outside the window
    i = int(np.searchsorted(ts, moment, side="right")) - 1
    if i < 0 or moment >= int(ts[-1]) + max(step, 1):
        return None
    return i


def _format_bar_axis(ax: Axes, ts: IntArray, step: int, width: int) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    midnight = bool(np.all(ts % NANOS_PER_DAY == 0))
    if midnight and (step >= NANOS_PER_DAY or step == 0):
        pattern, label_px = "%Y-%m-%d", 95
    elif step >= NANOS_PER_MINUTE:
        pattern, label_px = "%Y-%m-%d %H:%M", 130
    else:
        pattern, label_px = "%m-%d %H:%M:%S", 130
    n = len(ts)

    def label(x: float, _pos: int | None) -> str:
        i = round(x)
        if 0 <= i < n and math.isclose(x, i, abs_tol=1e-6):
            return ns_to_dt(int(ts[i])).strftime(pattern)
        return ""

    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(2, width // label_px), integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlabel("UTC", fontsize=8)


def _candle_colours(bars: BarSeries, lo: int, hi: int) -> npt.NDArray[np.float64]:
    from matplotlib.colors import to_rgba

    up = bars.close[lo:hi] >= bars.open[lo:hi]
    return np.where(up[:, None], np.array(to_rgba(_UP)), np.array(to_rgba(_DOWN)))


def _draw_candles(ax: Axes, bars: BarSeries, lo: int, hi: int) -> None:
    from matplotlib.collections import LineCollection, PolyCollection

    x = np.arange(hi - lo, dtype=np.float64)
    opens, closes = bars.open[lo:hi], bars.close[lo:hi]
    bottom, top = np.minimum(opens, closes), np.maximum(opens, closes)
    colours = _candle_colours(bars, lo, hi)
    wicks = np.stack([np.column_stack([x, bars.low[lo:hi]]),
                      np.column_stack([x, bars.high[lo:hi]])], axis=1)
    ax.add_collection(LineCollection(list(wicks), colors=colours, linewidths=0.8, gid="wicks",
                                     zorder=2))
    bodies = _boxes(x, bottom, top, _BODY_HALF_WIDTH)  # one 3-D array: PolyCollection's fast path
    ax.add_collection(PolyCollection(bodies, facecolors=colours,  # type: ignore[arg-type]
                                     edgecolors=colours, linewidths=0.6, gid="candles", zorder=3))


def _boxes(x: FloatArray, bottom: FloatArray, top: FloatArray,
           half: float) -> npt.NDArray[np.float64]:
    boxes = np.empty((x.size, 4, 2))
    boxes[:, 0, 0] = boxes[:, 1, 0] = x - half
    boxes[:, 2, 0] = boxes[:, 3, 0] = x + half
    boxes[:, 0, 1] = boxes[:, 3, 1] = bottom
    boxes[:, 1, 1] = boxes[:, 2, 1] = top
    return boxes


def _draw_volume(ax: Axes, bars: BarSeries, lo: int, hi: int) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import FuncFormatter

    x = np.arange(hi - lo, dtype=np.float64)
    volumes = bars.volume[lo:hi]
    colours = _candle_colours(bars, lo, hi)
    colours[:, 3] = 0.6
    boxes = _boxes(x, np.zeros_like(volumes), volumes, 0.4)
    ax.add_collection(PolyCollection(boxes, facecolors=colours,  # type: ignore[arg-type]
                                     linewidths=0, gid="volume"))
    ax.set_ylim(0.0, float(np.nanmax(volumes)) * 1.05)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_number(v)))
    ax.set_ylabel("volume", fontsize=8)


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


@dataclass(frozen=True)
class _Overlay:
    spec: str
    label: str
    indicator: Indicator


def _parse_overlay(spec: str) -> _Overlay:
    text = str(spec).strip().lower()
    match = _OVERLAY_RE.fullmatch(text)
    forms = ", ".join(OVERLAY_FORMS)
    if match is None:
        raise ConfigError(
            f"overlay {spec!r} is not valid: use one of {forms} (N a whole number of bars >= 1, "
            "K standard deviations >= 0, default 2)"
        )
    kind, period_text, bb_period, bb_k = match.groups()
    period = int(period_text or bb_period)
    if period < 1:
        raise ConfigError(f"overlay {spec!r} is not valid: the period N must be at least 1 "
                          f"(forms: {forms})")
    if kind == "sma":
        return _Overlay(text, f"SMA({period})", SMA(period))
    if kind == "ema":
        return _Overlay(text, f"EMA({period})", EMA(period))
    k = float(bb_k) if bb_k else 2.0
    return _Overlay(text, f"BB({period}, {k:g})", BollingerBands(period, k))


def _draw_overlay(ax: Axes, overlay: _Overlay, bars: BarSeries, lo: int, hi: int,
                  colour: str) -> None:
    # computed from the first bar, so the window starts warmed up and values match a backtest
    values = overlay.indicator.batch(bars.close[:hi])
    x = np.arange(hi - lo, dtype=np.float64)
    gid = f"overlay:{overlay.spec}"
    if "upper" not in values:
        ax.plot(x, values["value"][lo:], color=colour, linewidth=1.1, label=overlay.label,
                gid=gid, zorder=4)
        return
    upper, lower = values["upper"][lo:], values["lower"][lo:]
    ax.plot(x, values["value"][lo:], color=colour, linewidth=1.0, label=overlay.label,
            gid=f"{gid}:middle", zorder=4)
    ax.plot(x, upper, color=colour, linewidth=0.8, linestyle=":", gid=f"{gid}:upper", zorder=4)
    ax.plot(x, lower, color=colour, linewidth=0.8, linestyle=":", gid=f"{gid}:lower", zorder=4)
    ax.fill_between(x, lower, upper, color=colour, alpha=0.07, linewidth=0, gid=f"{gid}:band")


def _draw_trades(ax: Axes, trades: Sequence[Trade], ts: IntArray, step: int) -> None:
    from matplotlib.collections import LineCollection

    longs: list[tuple[int, float]] = []
    shorts: list[tuple[int, float]] = []
    exits: list[tuple[int, float]] = []
    paths: list[list[tuple[float, float]]] = []
    path_colours: list[str] = []
    for trade in trades:
        entry_x = _bar_of(ts, step, trade.entry_ts)
        entry_price = float(trade.entry_price)
        if entry_x is not None:
            (longs if trade.side is OrderSide.BUY else shorts).append((entry_x, entry_price))
        if trade.exit_ts is None or trade.exit_price is None:
            continue
        exit_x = _bar_of(ts, step, trade.exit_ts)
        if exit_x is None:
            continue
        exit_price = float(trade.exit_price)
        exits.append((exit_x, exit_price))
        if entry_x is not None:
            paths.append([(entry_x, entry_price), (exit_x, exit_price)])
            path_colours.append(_TARGET if trade.pnl > 0 else _STOP)
    if paths:
        ax.add_collection(LineCollection(paths, colors=path_colours, linewidths=1.0,
                                         linestyles=":", gid="trade-paths", zorder=5))
    for points, marker, colour, gid, label in (
        (longs, "^", _TARGET, "entries-long", "long entry"),
        (shorts, "v", _STOP, "entries-short", "short entry"),
        (exits, "X", _EXIT, "exits", "exit"),
    ):
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, linestyle="none", marker=marker, markersize=9, color=colour,
                    markeredgecolor="white", markeredgewidth=0.8, gid=gid, label=label,
                    zorder=6)


def _draw_levels(ax: Axes, levels: Sequence[PriceLevel], ts: IntArray, step: int) -> None:
    from matplotlib.collections import LineCollection

    window_end = int(ts[-1]) + max(step, 1)
    segments: dict[str, list[list[tuple[float, float]]]] = {"stop": [], "target": []}
    for level in levels:
        if level.end_ts < int(ts[0]) or level.start_ts >= window_end:
            continue
        first = max(int(np.searchsorted(ts, level.start_ts, side="right")) - 1, 0)
        final = min(int(np.searchsorted(ts, level.end_ts, side="right")) - 1, len(ts) - 1)
        price = float(level.price)
        segments[level.kind].append([(first - LEVEL_PAD, price), (final + LEVEL_PAD, price)])
    for kind, colour, gid in (("stop", _STOP, "stops"), ("target", _TARGET, "targets")):
        if segments[kind]:
            ax.add_collection(LineCollection(segments[kind], colors=colour, linewidths=1.2,
                                             linestyles="--", gid=gid, label=kind, zorder=5))


def _trade_title(trade: Trade) -> str:
    side = "long" if trade.side is OrderSide.BUY else "short"
    head = f"{trade.symbol} {side} {trade.quantity} @ {trade.entry_price}"
    if trade.exit_price is None:
        return f"{head} (open, {trade.pnl:+,.2f})"
    return f"{head} → {trade.exit_price} ({trade.pnl:+,.2f}, {trade.return_pct:+.2f}%)"
