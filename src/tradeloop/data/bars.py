"""Ticks to bars: one streaming builder for backtest and live, and its vectorised batch twin.

Four kinds of bar (see :class:`TimeBars`, :class:`TickBars`, :class:`VolumeBars`,
:class:`ValueBars`). The two paths give identical bars, float for float:

* **Prices.** A trade's price is its price. A quote's price is its mid ``(bid + ask) * 0.5``
  (the default), its bid or its ask.
* **Volume.** A trade bar's volume is the sum of the trade sizes, added left to right as a
  running total (the batch path reproduces that order with
  :func:`~tradeloop.data.resample.sequential_segment_sums`). A quote bar's volume is the number
  of quote updates in it (tick volume, as MetaTrader reports for FX), so every quote counts as
  size 1.
* **Thresholds.** Volume and value bars compare one running total of the whole stream, ``total``
  (the float sum of all sizes, or of all ``price * size``, in arrival order, which is what
  ``numpy.cumsum`` computes), with a target fixed when the bar opens: ``total before the bar's
  first tick + threshold``. The bar closes on the first tick where ``total >= target``; that
  tick belongs to the bar and ticks are never split. With integer sizes (below 2**53) this is
  exactly "the bar's volume reaches the threshold".
* **Bar time.** A bar's ``ts`` is its open time: the bucket start for time bars, the first
  tick's time for tick, volume and value bars (which can therefore repeat when a burst of ticks
  shares one timestamp). A tick belongs to the last bucket start at or before it
  (:func:`~tradeloop.data.resample.tiled_bucket_starts`), and a time bar is complete once the
  clock reaches its bucket's end, which the batch path learns from ``end_ns``.
* **Late ticks.** A tick stamped before the open of the bar being built (between bars: before
  the end of the last closed time bucket, or the open of the last tick/volume/value bar) is
  counted in :attr:`BarBuilder.dropped_late` and dropped, with a warning on the first one: a
  live feed must not stop for one late print, and no bar is ever emitted twice. The batch path
  takes sorted series and rejects time going back with :class:`DataError`.
* **Bad ticks.** A price that is not a positive finite number, or a size that is negative or not
  finite, raises :class:`DataError` on both paths.
"""

# ruff: noqa: PLR1730  (the per-tick path compares in place: a max() call costs more)
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_iso
from tradeloop.data.resample import (
    MIN_TS,
    BucketTable,
    bucket_ends,
    bucket_range,
    sequential_segment_sums,
    tiled_bucket_starts,
)
from tradeloop.data.timeframes import UTC_MIDNIGHT, BucketAlignment, Timeframe, parse_timeframe
from tradeloop.model.data import Bar, BarSeries, FloatArray, IntArray, QuoteSeries, TradeSeries

logger = logging.getLogger(__name__)

PriceSource = Literal["mid", "bid", "ask"]
_SIDES = {"mid": 0, "bid": 1, "ask": 2}
_NO_BARS: tuple[Bar, ...] = ()
_MAX_TS = (1 << 63) - 1
_INF = math.inf


@dataclass(frozen=True, slots=True, init=False)
class TimeBars:
    """Bars of a fixed length, aligned to a bucket grid.

    Parameters
    ----------
    timeframe : Timeframe, str or int
        The bar length: a :class:`Timeframe`, a spelling such as ``"1m"`` or nanoseconds.
    alignment : BucketAlignment, optional
        Where buckets start (UTC midnight by default; a session open such as ``"09:30"`` in
        ``"America/New_York"``; daylight saving follows the timezone database).
    carry_forward : bool, optional
        When True, every bucket without ticks between two bars (and, on the clock, after the
        last one) yields a flat bar at the last close with zero volume. When False (the
        default) it yields nothing.
    """

    timeframe: Timeframe
    alignment: BucketAlignment
    carry_forward: bool

    def __init__(self, timeframe: Timeframe | str | int,
                 alignment: BucketAlignment = UTC_MIDNIGHT, carry_forward: bool = False) -> None:
        object.__setattr__(self, "timeframe", parse_timeframe(timeframe))
        object.__setattr__(self, "alignment", alignment)
        object.__setattr__(self, "carry_forward", bool(carry_forward))

    @property
    def label(self) -> str:
        """The bar's ``timeframe`` label, such as ``"1m"``."""
        return self.timeframe.label


@dataclass(frozen=True, slots=True)
class TickBars:
    """A bar every ``ticks`` ticks.

    Attributes
    ----------
    ticks : int
        Ticks per bar, positive.
    """

    ticks: int

    def __post_init__(self) -> None:
        if isinstance(self.ticks, bool) or not isinstance(self.ticks, int) or self.ticks <= 0:
            raise ConfigError(
                f"tick bars need a positive whole number of ticks, got {self.ticks!r}"
            )

    @property
    def label(self) -> str:
        """``"<n>tick"``."""
        return f"{self.ticks}tick"


def _check_threshold(kind: str, threshold: float) -> None:
    if isinstance(threshold, bool) or not (0.0 < float(threshold) < _INF):
        raise ConfigError(f"{kind} bars need a positive finite threshold, got {threshold!r}")


@dataclass(frozen=True, slots=True)
class VolumeBars:
    """A bar closes when the traded size since it opened reaches ``threshold``.

    Attributes
    ----------
    threshold : float
        Positive. For quotes, size is 1 per update (tick volume).
    """

    threshold: float

    def __post_init__(self) -> None:
        _check_threshold("volume", self.threshold)
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def label(self) -> str:
        """``"<threshold>vol"``."""
        return f"{self.threshold:g}vol"


@dataclass(frozen=True, slots=True)
class ValueBars:
    """A bar closes when the traded value (``price * size``) since it opened reaches ``threshold``.

    Attributes
    ----------
    threshold : float
        Positive, in the quote currency.
    """

    threshold: float

    def __post_init__(self) -> None:
        _check_threshold("value", self.threshold)
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def label(self) -> str:
        """``"<threshold>value"``."""
        return f"{self.threshold:g}value"


BarSpec = TimeBars | TickBars | VolumeBars | ValueBars


def _price_side(price: str) -> int:
    side = _SIDES.get(price)
    if side is None:
        raise ConfigError(f"price source {price!r}: use 'mid', 'bid' or 'ask'")
    return side


def _check_tick(symbol: str, ts: int, price: float, size: float) -> None:
    if not 0.0 < price < _INF:
        raise DataError(f"{symbol}: tick at {ns_to_iso(int(ts))}: price {price!r} is not a "
                        "positive finite number")
    if not 0.0 <= size < _INF:
        raise DataError(f"{symbol}: tick at {ns_to_iso(int(ts))}: size {size!r} is not a "
                        "non-negative finite number")


class BarBuilder:
    """Build bars from ticks one at a time: the same object in backtest, paper and live.

    Parameters
    ----------
    symbol : str
    spec : TimeBars, TickBars, VolumeBars or ValueBars
    price : {"mid", "bid", "ask"}, optional
        Which quote price makes the bar (trades always use their price).

    Notes
    -----
    Every ``on_*`` method returns the bars that closed, oldest first, as a tuple (a shared
    empty tuple when none did). A time bar closes when a tick at or after its end arrives, or
    when :meth:`on_time` reports a clock at or after its end, whichever comes first, and is
    emitted exactly once. See the module notes for prices, volume, thresholds and late ticks.
    """

    __slots__ = (
        "_buckets", "_by_value", "_carry", "_close", "_count", "_cum", "_dropped", "_due",
        "_end", "_first", "_high", "_label", "_last_close", "_low", "_open_ts", "_per_bar",
        "_side", "_start", "_target", "_threshold", "_update", "_volume", "spec", "symbol",
    )

    def __init__(self, symbol: str, spec: BarSpec, price: PriceSource = "mid") -> None:
        self.symbol = symbol
        self.spec = spec
        self._side = _price_side(price)
        self._open_ts = 0
        self._first = self._high = self._low = self._close = self._volume = 0.0
        self._count = 0
        self._start = MIN_TS
        self._end = MIN_TS
        self._due = _MAX_TS
        self._cum = 0.0
        self._target = 0.0
        self._threshold = 0.0
        self._per_bar = 0
        self._by_value = False
        self._carry = False
        self._last_close: float | None = None
        self._dropped = 0
        self._buckets: BucketTable | None = None
        self._update: Callable[[int, float, float], tuple[Bar, ...]]
        if isinstance(spec, TimeBars):
            self._buckets = BucketTable(spec.timeframe, spec.alignment)
            self._carry = spec.carry_forward
            self._update = self._time_tick
        elif isinstance(spec, TickBars):
            self._per_bar = spec.ticks
            self._update = self._count_tick
        elif isinstance(spec, VolumeBars | ValueBars):
            self._threshold = spec.threshold
            self._by_value = isinstance(spec, ValueBars)
            self._update = self._sum_tick
        else:
            raise ConfigError(f"unknown bar spec {spec!r}: use TimeBars, TickBars, VolumeBars "
                              "or ValueBars")
        self._label = spec.label

    @property
    def next_due_ns(self) -> int | None:
        """When :meth:`on_time` would next close a bar (None: no bar is open)."""
        return None if self._due == _MAX_TS else self._due

    @property
    def dropped_late(self) -> int:
        """How many late ticks were dropped."""
        return self._dropped

    def on_trade(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        """Add a trade; return the bars it closed.

        Parameters
        ----------
        ts : int
            UTC nanoseconds.
        price, size : float
            Positive finite price; non-negative finite size.
        """
        return self._update(ts, price, size)

    def on_quote(self, ts: int, bid: float, ask: float) -> tuple[Bar, ...]:
        """Add a quote update (size 1: bar volume counts updates); return the bars it closed."""
        side = self._side
        if side == 0:
            return self._update(ts, (bid + ask) * 0.5, 1.0)
        return self._update(ts, bid if side == 1 else ask, 1.0)

    def on_time(self, now_ns: int) -> tuple[Bar, ...]:
        """Close the time bar (and, with ``carry_forward``, the empty buckets) ended by now.

        Parameters
        ----------
        now_ns : int
            The clock, UTC ns. Ticks stamped before a bucket this call closed are late.

        Returns
        -------
        tuple of Bar
            Empty for tick, volume and value bars.
        """
        buckets = self._buckets
        if now_ns < self._due or buckets is None:
            return _NO_BARS
        out: list[Bar] = []
        if self._count:
            out.append(self._emit())
            self._start = self._end
        self._end = MIN_TS
        if self._carry and self._last_close is not None:
            current, current_end = buckets.locate(now_ns, self._start)
            self._flat_bars(buckets.between(self._start, current), out)
            self._start = current
            self._due = current_end
        else:
            self._due = _MAX_TS
        return tuple(out)

    def flush(self) -> tuple[Bar, ...]:
        """Emit the bar in progress, incomplete, at the end of the data (if there is one).

        Afterwards a time bar's bucket counts as closed: ticks before its end are late.
        """
        if not self._count:
            return _NO_BARS
        bar = self._emit()
        if self._buckets is not None:
            self._start, self._end = self._end, MIN_TS
            self._due = self._buckets.end_of(self._start) if self._carry else _MAX_TS
        return (bar,)

    def _emit(self) -> Bar:
        self._count = 0
        self._last_close = self._close
        return Bar(self.symbol, self._open_ts, self._first, self._high, self._low, self._close,
                   self._volume, self._label)

    def _open(self, ts: int, price: float, size: float) -> None:
        self._open_ts, self._volume = ts, size
        self._first = self._high = self._low = self._close = price

    def _reject(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        _check_tick(self.symbol, ts, price, size)
        self._dropped += 1
        log = logger.warning if self._dropped == 1 else logger.debug
        log("%s: dropped a late tick at %s: the bars before %s are built or closed already "
            "(%d late ticks so far)", self.symbol, ns_to_iso(int(ts)), ns_to_iso(int(self._start)),
            self._dropped)
        return _NO_BARS

    def _flat_bars(self, starts: list[int], out: list[Bar]) -> None:
        close = self._last_close
        assert close is not None
        symbol, label = self.symbol, self._label
        out.extend(Bar(symbol, start, close, close, close, close, 0.0, label) for start in starts)

    def _time_tick(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        if ts >= self._end or ts < self._start or not (0.0 < price < _INF) or not (
            0.0 <= size < _INF
        ):
            return self._time_boundary(ts, price, size)
        if price > self._high:
            self._high = price
        if price < self._low:
            self._low = price
        self._close = price
        self._volume += size
        return _NO_BARS

    def _time_boundary(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        if ts < self._start or not (0.0 < price < _INF) or not (0.0 <= size < _INF):
            return self._reject(ts, price, size)
        buckets = self._buckets
        assert buckets is not None
        out: list[Bar] = []
        if self._count:
            out.append(self._emit())
            self._start = self._end
        start, end = buckets.locate(ts, self._start)
        if self._carry and self._last_close is not None and self._start < start:
            self._flat_bars(buckets.between(self._start, start), out)
        self._open(start, price, size)
        self._count = 1
        self._start = start
        self._end = self._due = end
        return tuple(out)

    def _count_tick(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        if ts < self._start or not (0.0 < price < _INF) or not (0.0 <= size < _INF):
            return self._reject(ts, price, size)
        count = self._count
        if count:
            if price > self._high:
                self._high = price
            if price < self._low:
                self._low = price
            self._close = price
            self._volume += size
        else:
            self._open(ts, price, size)
            self._start = ts
        count += 1
        if count >= self._per_bar:
            return (self._emit(),)
        self._count = count
        return _NO_BARS

    def _sum_tick(self, ts: int, price: float, size: float) -> tuple[Bar, ...]:
        if ts < self._start or not (0.0 < price < _INF) or not (0.0 <= size < _INF):
            return self._reject(ts, price, size)
        cum = self._cum
        if self._count:
            if price > self._high:
                self._high = price
            if price < self._low:
                self._low = price
            self._close = price
            self._volume += size
        else:
            self._open(ts, price, size)
            self._start = ts
            self._target = cum + self._threshold
        cum += price * size if self._by_value else size
        self._cum = cum
        self._count += 1
        if cum >= self._target:
            return (self._emit(),)
        return _NO_BARS


# ---------------------------------------------------------------------------------------------
# batch


def _columns(ticks: QuoteSeries | TradeSeries, side: int) -> tuple[IntArray, FloatArray,
                                                                    FloatArray | None, str]:
    """Timestamps, prices, sizes (None for quotes: size 1 each) and the price's name."""
    ts = np.asarray(ticks.ts, dtype=np.int64)
    if isinstance(ticks, TradeSeries):
        return (ts, np.asarray(ticks.price, dtype=np.float64),
                np.asarray(ticks.size, dtype=np.float64), "price")
    if isinstance(ticks, QuoteSeries):
        bid = np.asarray(ticks.bid, dtype=np.float64)
        ask = np.asarray(ticks.ask, dtype=np.float64)
        if side == 0:
            return ts, (bid + ask) * 0.5, None, "mid"
        return ts, (bid if side == 1 else ask), None, ("bid" if side == 1 else "ask")
    raise ConfigError(
        f"build_bars takes a QuoteSeries or a TradeSeries, got {type(ticks).__name__}"
    )


def _validate(where: str, ts: IntArray, price: FloatArray, size: FloatArray | None,
              name: str) -> None:
    back = np.flatnonzero(ts[1:] < ts[:-1])
    if back.shape[0]:
        i = int(back[0]) + 1
        raise DataError(f"{where}: tick {i} at {ns_to_iso(int(ts[i]))}: time goes back (previous "
                        f"tick at {ns_to_iso(int(ts[i - 1]))}); sort the ticks first")
    bad = np.flatnonzero(~((price > 0.0) & (price < _INF)))
    if bad.shape[0]:
        i = int(bad[0])
        raise DataError(f"{where}: tick {i} at {ns_to_iso(int(ts[i]))}: {name} "
                        f"{float(price[i])!r} is not a positive finite number")
    if size is not None:
        bad = np.flatnonzero(~((size >= 0.0) & (size < _INF)))
        if bad.shape[0]:
            i = int(bad[0])
            raise DataError(f"{where}: tick {i} at {ns_to_iso(int(ts[i]))}: size "
                            f"{float(size[i])!r} is not a non-negative finite number")


def _threshold_begins(weights: FloatArray, threshold: float) -> tuple[IntArray, bool]:
    """Bar starts of volume/value bars and whether the last bar reached its target."""
    n = weights.shape[0]
    total = np.cumsum(weights)
    before = np.concatenate(([0.0], total[:-1]))
    ends = np.searchsorted(total, before + threshold, side="left")
    jumps = (np.maximum(ends, np.arange(n)) + 1).tolist()
    begins: list[int] = []
    i = 0
    while i < n:
        begins.append(i)
        i = jumps[i]
    return np.asarray(begins, dtype=np.int64), i == n


def _time_segments(ts: IntArray, spec: TimeBars, end_ns: int | None
                   ) -> tuple[IntArray, IntArray, IntArray, bool]:
    """Segment begins, bar labels, bucket ends and whether the last bucket closed by end_ns."""
    starts = tiled_bucket_starts(ts, spec.timeframe, spec.alignment)
    begins = np.concatenate(([0], np.flatnonzero(starts[1:] != starts[:-1]) + 1)).astype(np.int64)
    labels = starts[begins]
    ends = bucket_ends(labels, spec.timeframe, spec.alignment)
    return begins, labels, ends, end_ns is not None and int(ends[-1]) <= end_ns


def _carried(spec: TimeBars, labels: IntArray, ends: IntArray, closes: FloatArray,
             end_ns: int | None, last_closed: bool) -> tuple[IntArray, FloatArray]:
    """Flat bars for the empty buckets between bars and, on the clock, after the last one."""
    first, stop, close = ends[:-1], labels[1:], closes[:-1]
    if last_closed and end_ns is not None:
        probe = np.array([ends[-1], end_ns], dtype=np.int64)
        clock_bucket = tiled_bucket_starts(probe, spec.timeframe, spec.alignment)[-1]
        first = np.append(first, ends[-1])
        stop = np.append(stop, clock_bucket)
        close = np.append(close, closes[-1])
    starts, owner = bucket_range(first, stop, spec.timeframe, spec.alignment)
    return starts, close[owner]


def build_bars(
    ticks: QuoteSeries | TradeSeries,
    spec: BarSpec,
    price: PriceSource = "mid",
    end_ns: int | None = None,
    include_partial: bool = False,
) -> BarSeries:
    """Build bars from a whole tick series at once; the same bars as :class:`BarBuilder`.

    Parameters
    ----------
    ticks : QuoteSeries or TradeSeries
        Sorted by time (equal timestamps allowed).
    spec : TimeBars, TickBars, VolumeBars or ValueBars
    price : {"mid", "bid", "ask"}, optional
        Which quote price makes the bar.
    end_ns : int, optional
        Where the data ends (UTC ns), for time bars: the last bar is complete when its bucket
        ends at or before it, and with ``carry_forward`` the empty buckets that end by then get
        flat bars. Without it the last time bar is incomplete. Streaming equivalent: feed the
        ticks, then ``on_time(end_ns)``.
    include_partial : bool, optional
        Keep the incomplete last bar (streaming: :meth:`BarBuilder.flush`). Default False: a
        backtest sees complete bars only. A tick, volume or value bar is complete when it
        reached its count or threshold.

    Returns
    -------
    BarSeries
        ``timeframe_ns`` is the bar length for time bars and 0 otherwise.

    Raises
    ------
    DataError
        Time goes back, or a price or size is invalid (the message names the tick).
    ConfigError
        ``end_ns`` is before the last tick, or an option is unknown.
    """
    side = _price_side(price)
    ts, prices, sizes, name = _columns(ticks, side)
    where = ticks.source or ticks.symbol
    _validate(where, ts, prices, sizes, name)
    n = ts.shape[0]
    if end_ns is not None and n and end_ns < int(ts[-1]):
        raise ConfigError(f"{where}: end_ns {ns_to_iso(end_ns)} is before the last tick at "
                          f"{ns_to_iso(int(ts[-1]))}")
    timeframe_ns = spec.timeframe.ns if isinstance(spec, TimeBars) else 0
    if n == 0:
        nothing = np.empty(0, dtype=np.float64)
        return BarSeries(ticks.symbol, ts, nothing, nothing, nothing, nothing, nothing,
                         timeframe_ns, ticks.source)
    time_spec = spec if isinstance(spec, TimeBars) else None
    if time_spec is not None:
        begins, labels, ends, complete = _time_segments(ts, time_spec, end_ns)
    elif isinstance(spec, TickBars):
        begins = np.arange(0, n, spec.ticks, dtype=np.int64)
        complete = n % spec.ticks == 0
    elif isinstance(spec, VolumeBars | ValueBars):
        if isinstance(spec, VolumeBars):
            weights = np.ones(n) if sizes is None else sizes
        else:
            weights = prices if sizes is None else prices * sizes
        begins, complete = _threshold_begins(weights, spec.threshold)
    else:
        raise ConfigError(f"unknown bar spec {spec!r}: use TimeBars, TickBars, VolumeBars or "
                          "ValueBars")
    seg_ends = np.append(begins[1:], n)
    bar_ts = labels if time_spec is not None else ts[begins]
    high = np.maximum.reduceat(prices, begins)
    low = np.minimum.reduceat(prices, begins)
    if sizes is None:
        volume = (seg_ends - begins).astype(np.float64)
    else:
        volume = sequential_segment_sums(sizes, begins, seg_ends)
    columns = [bar_ts, prices[begins], high, low, prices[seg_ends - 1], volume]
    if time_spec is not None and time_spec.carry_forward:
        flat_ts, flat_close = _carried(time_spec, labels, ends, columns[4], end_ns, complete)
        if not complete and not include_partial:
            columns = [c[:-1] for c in columns]
        order = np.argsort(np.concatenate((columns[0], flat_ts)), kind="stable")
        zeros = np.zeros(flat_ts.shape[0])
        merged = [flat_ts, flat_close, flat_close, flat_close, flat_close, zeros]
        columns = [np.concatenate((c, m))[order] for c, m in zip(columns, merged, strict=True)]
    elif not complete and not include_partial:
        columns = [c[:-1] for c in columns]
    bar_ts, first, high, low, last, volume = columns
    return BarSeries(ticks.symbol, np.asarray(bar_ts, dtype=np.int64), first, high, low, last,
                     volume, timeframe_ns, ticks.source)


__all__ = ["BarBuilder", "BarSpec", "PriceSource", "TickBars", "TimeBars", "ValueBars",
           "VolumeBars", "build_bars"]
