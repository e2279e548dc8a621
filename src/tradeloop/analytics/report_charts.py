"""The data the HTML report's charts draw, as compact JSON-ready columns.

Times are UTC seconds (lightweight-charts' ``UTCTimestamp``). Every point of every series sits
on a time of the candles (markers and stop/target segments are snapped to the bar they fall
in), so that no series adds slots to a chart's time scale. Series with more than
``max_points`` distinct seconds are merged into coarser candles (and the equity curve into
coarser points) to keep the file reasonable; the page says so when it happens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.levels import PriceLevel
from tradeloop.analytics.trades import Trade
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_SECOND
from tradeloop.model.data import BarSeries, MarketSeries, QuoteSeries
from tradeloop.model.enums import OrderSide
from tradeloop.model.instrument import Instrument

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MAX_POINTS = 200_000
"""Most candles per symbol and points of the equity curve embedded in a report."""


@dataclass(frozen=True)
class Buckets:
    """How the rows of a series are grouped into chart points.

    Attributes
    ----------
    starts : ndarray of intp
        Index of each group's first row.
    ends : ndarray of intp
        One past each group's last row.
    ts_ns : ndarray of int64
        Each group's first row time (UTC ns), for snapping.
    merged : bool
        True when some group holds more than one row.
    """

    starts: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]
    ts_ns: IntArray
    merged: bool

    def seconds(self) -> list[int]:
        """Each group's time in UTC seconds."""
        values: list[int] = (self.ts_ns // NANOS_PER_SECOND).tolist()
        return values

    def index_of(self, ts_ns: int) -> int:
        """The group a time falls in (the first one for times before the data)."""
        return max(int(np.searchsorted(self.ts_ns, ts_ns, side="right")) - 1, 0)


def buckets(ts_ns: IntArray, max_points: int = MAX_POINTS) -> Buckets:
    """Group rows by UTC second, then merge neighbours until at most ``max_points`` remain."""
    n = int(ts_ns.shape[0])
    if n == 0:
        empty = np.empty(0, dtype=np.intp)
        return Buckets(empty, empty, np.empty(0, dtype=np.int64), False)
    seconds = ts_ns // NANOS_PER_SECOND
    starts = np.flatnonzero(np.r_[True, seconds[1:] != seconds[:-1]])
    if starts.size > max_points:
        starts = starts[:: math.ceil(starts.size / max_points)]
    ends = np.r_[starts[1:], n].astype(np.intp)
    return Buckets(starts.astype(np.intp), ends, ts_ns[starts], bool(starts.size < n))


def finite_list(values: FloatArray, decimals: int | None = None) -> list[float | None]:
    """``values`` as a list, NaN and infinities as None (JSON ``null``)."""
    if decimals is not None:
        values = np.round(values, decimals)
    if bool(np.isfinite(values).all()):
        return values.tolist()  # type: ignore[no-any-return]
    return [v if math.isfinite(v) else None for v in values.tolist()]


def price_decimals(instrument: Instrument | None) -> int:
    """Decimals of an instrument's tick size (2 when unknown)."""
    if instrument is None:
        return 2
    exponent = instrument.tick_size.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def _fmt_price(price: Decimal | float, decimals: int) -> str:
    return f"{float(price):,.{decimals}f}"


def _fmt_qty(quantity: Decimal) -> str:
    return format(quantity.normalize(), ",f") if quantity == quantity.to_integral_value() \
        else format(quantity, ",f")


def trade_markers(trades: Sequence[Trade], groups: Buckets, decimals: int) -> list[dict[str, Any]]:
    """One marker per trade entry and one per exit, sorted by time.

    Each marker has ``time`` (seconds), ``side`` (``buy``/``sell``), ``role``
    (``entry``/``exit``), ``text`` (short, drawn next to the arrow) and ``tip`` (the hover text
    with price, quantity and PnL).
    """
    seconds = groups.seconds()
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for number, trade in enumerate(trades, start=1):
        entry_side = "buy" if trade.side is OrderSide.BUY else "sell"
        exit_side = "sell" if entry_side == "buy" else "buy"
        direction = "long" if entry_side == "buy" else "short"
        price = _fmt_price(trade.entry_price, decimals)
        qty = _fmt_qty(trade.quantity)
        entry_index = groups.index_of(trade.entry_ts)
        rows.append((entry_index, len(rows), {
            "time": seconds[entry_index], "side": entry_side, "role": "entry",
            "text": f"#{number}",
            "tip": f"#{number} {entry_side} {qty} @ {price} (open {direction})",
        }))
        if trade.exit_ts is None or trade.exit_price is None:
            continue
        exit_price = _fmt_price(trade.exit_price, decimals)
        exit_index = groups.index_of(trade.exit_ts)
        rows.append((exit_index, len(rows), {
            "time": seconds[exit_index], "side": exit_side, "role": "exit",
            "text": f"{trade.pnl:+,.2f}",
            "tip": f"#{number} {exit_side} {qty} @ {exit_price} (close {direction}), "
                   f"PnL {trade.pnl:+,.2f}",
        }))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


def level_lanes(levels: Iterable[PriceLevel], groups: Buckets) -> list[dict[str, Any]]:
    """Stop and target levels packed into as few line series as possible.

    Each lane is ``{"kind": "stop"|"target", "points": [[seconds, price], ...]}`` with two
    points per segment: the bars it starts and ends in (a level inside one bar spans it and the
    next). Segments of one lane do not overlap in time; the page draws each segment from its
    first point and hides the connector from a segment's end to the next one's start.
    """
    seconds = groups.seconds()
    last = len(seconds) - 1
    if last < 0:
        return []
    lanes: dict[str, list[tuple[int, list[list[Any]]]]] = {"stop": [], "target": []}
    spans = []
    for level in levels:
        start, end = groups.index_of(level.start_ts), groups.index_of(level.end_ts)
        if end <= start:
            start, end = (start, start + 1) if start < last else (max(start - 1, 0), start)
        if end > start:
            spans.append((start, end, level))
    spans.sort(key=lambda span: (span[0], span[1]))
    for start, end, level in spans:
        segment = [[seconds[start], float(level.price)], [seconds[end], float(level.price)]]
        kind_lanes = lanes[level.kind]
        for k, (lane_end, points) in enumerate(kind_lanes):
            if start > lane_end:
                points.extend(segment)
                kind_lanes[k] = (end, points)
                break
        else:
            kind_lanes.append((end, segment))
    return [{"kind": kind, "points": points}
            for kind in ("stop", "target") for _, points in lanes[kind]]


def series_payload(series: MarketSeries, instrument: Instrument | None,
                   trades: Sequence[Trade], levels: Sequence[PriceLevel],
                   max_points: int = MAX_POINTS) -> dict[str, Any]:
    """The price chart of one symbol: candles (or a line for ticks), markers and levels."""
    decimals = price_decimals(instrument)
    groups = buckets(series.ts, max_points)
    starts, ends = groups.starts, groups.ends
    payload: dict[str, Any] = {
        "symbol": series.symbol, "decimals": decimals, "rows": len(series),
        "points": int(starts.size), "merged": groups.merged, "time": groups.seconds(),
    }
    if isinstance(series, BarSeries):
        step = series.timeframe_ns
        payload.update(
            kind="candles",
            open=finite_list(series.open[starts]),
            high=finite_list(np.maximum.reduceat(series.high, starts) if starts.size else
                             series.high[:0]),
            low=finite_list(np.minimum.reduceat(series.low, starts) if starts.size else
                            series.low[:0]),
            close=finite_list(series.close[ends - 1]),
        )
        volume = np.add.reduceat(series.volume, starts) if starts.size else series.volume[:0]
        has_volume = bool(np.nansum(np.abs(volume)) > 0)
        payload["volume"] = finite_list(volume) if has_volume else None
    else:
        step = 0
        price = (series.bid + series.ask) / 2 if isinstance(series, QuoteSeries) else series.price
        payload.update(kind="line", value=finite_list(price[ends - 1]), volume=None,
                       label="mid price" if isinstance(series, QuoteSeries) else "trade price")
    payload["intraday"] = _intraday(groups.ts_ns)
    payload["show_seconds"] = bool(payload["intraday"] and step < 60 * NANOS_PER_SECOND)
    mine = [t for t in trades if t.symbol == series.symbol]
    payload["markers"] = trade_markers(mine, groups, decimals)
    entries = {t.entry_order_id for t in mine}
    own_levels = [lv for lv in levels if lv.entry_order_id in entries]
    payload["levels"] = level_lanes(own_levels, groups)
    payload["num_levels"] = len(own_levels)
    return payload


def equity_payload(ts_ns: IntArray, equity: FloatArray, drawdown: FloatArray,
                   max_points: int = MAX_POINTS) -> dict[str, Any]:
    """The equity curve (last value of each point) and drawdown in percent (lowest value)."""
    groups = buckets(ts_ns, max_points)
    if groups.starts.size == 0:
        return {"time": [], "equity": [], "drawdown": [], "merged": False, "rows": 0,
                "intraday": False}
    return {
        "time": groups.seconds(),
        "equity": finite_list(equity[groups.ends - 1], 6),
        "drawdown": finite_list(100 * np.minimum.reduceat(drawdown, groups.starts), 6),
        "merged": groups.merged,
        "rows": int(ts_ns.shape[0]),
        "intraday": _intraday(groups.ts_ns),
    }


def _intraday(ts_ns: IntArray) -> bool:
    # Show times of day on the axis unless every point is at midnight UTC.
    return bool(np.any(ts_ns % NANOS_PER_DAY != 0))


def script_json(payload: object) -> str:
    """``payload`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes (so no ``</script>`` or ``<!--`` can
    appear), and so are the line separators U+2028 and U+2029. NaN is not allowed.
    """
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
