"""The data streams a backtest replays: bars, quote ticks and trade ticks, merged in time order.

Each stream is laid out as the same seven columns (time, five values, and the price that marks
the instrument) so that the data loop can walk every kind of stream through one merge. A stream
builds its own immutable market data objects (``Bar``, ``QuoteTick``, ``TradeTick``) from a row.

Streams merge in the order their rows become known: a tick at its time, a bar at its close (open
time plus its length). Of a symbol's bar streams, the shortest is its *primary* stream: it alone
marks the price, and the venue fills orders against it; longer ones (a strategy's
``subscribe_bars``) only inform. With several streams, a primary bar takes two turns: at its
open the venue matches orders against it, and at its close it becomes the mark and reaches the
strategies. So a fill at 10:00 never sees a price of another instrument from after 10:00.
At one instant, bars that close go first (the shorter first, so an hourly bar follows the last
minute bar in it), then ticks, then bars that open: orders sent at a close fill from the next
open on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.core.time import timeframe_label
from tradeloop.data.timeframes import BucketAlignment, bar_step_ns
from tradeloop.engine.kernel import StrategyRunner
from tradeloop.indicators.base import Indicator
from tradeloop.model.data import Bar, BarSeries, MarketSeries, QuoteSeries, QuoteTick, TradeTick

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Row = tuple[str, int, float, float, float, float, float, str]


class StreamKind(Enum):
    """What a stream's rows are."""

    BAR = "bar"
    QUOTE = "quote"
    TRADE = "trade"


def _quote(row: Row) -> QuoteTick:
    return tuple.__new__(QuoteTick, row[:6])


def _trade(row: Row) -> TradeTick:
    return tuple.__new__(TradeTick, (*row[:4], ""))


@dataclass(eq=False)
class Stream:
    """One stream in the merge, with the strategies and indicators it feeds."""

    series: MarketSeries
    kind: StreamKind
    step_ns: int
    make: Callable[[Row], Any]
    primary: bool = True
    # what the data loop does with a row: match orders, mark the price, deliver to strategies
    matches: bool = True
    marks: bool = True
    delivers: bool = True
    alignment: BucketAlignment | None = None  # set on bars built from a primary stream
    handlers: list[tuple[StrategyRunner, Callable[[Any], None]]] = field(default_factory=list)
    batches: list[tuple[Indicator, dict[str, FloatArray]]] = field(default_factory=list)
    streaming: list[Indicator] = field(default_factory=list)
    # the current chunk of the precomputed indicator values, from row ``base`` on
    precomputed: list[tuple[Indicator, Sequence[float], list[tuple[str, Sequence[float]]]]] = field(
        default_factory=list
    )
    base: int = 0

    @property
    def symbol(self) -> str:
        """The instrument the stream is about."""
        return self.series.symbol

    @property
    def label(self) -> str:
        """The bar length's spelling carried by each ``Bar``; ``""`` for ticks."""
        return timeframe_label(self.step_ns) if self.kind is StreamKind.BAR else ""

    @property
    def hook(self) -> str:
        """The strategy hook the stream's rows go to."""
        return "on_bar" if self.kind is StreamKind.BAR else "on_tick"

    def columns(self) -> list[npt.NDArray[Any]]:
        """Time, five values and the mark price, as arrays of equal length."""
        s = self.series
        zero = np.zeros(len(s))
        if isinstance(s, BarSeries):
            return [s.ts, s.open, s.high, s.low, s.close, s.volume, s.close]
        if isinstance(s, QuoteSeries):
            return [s.ts, s.bid, s.ask, s.bid_size, s.ask_size, zero, (s.bid + s.ask) / 2]
        return [s.ts, s.price, s.size, zero, zero, zero, s.price]

    def load_chunk(self, first: int, end: int) -> None:
        """Keep the precomputed indicator values of rows ``first`` to ``end`` as sequences of
        Python numbers (see :func:`python_values`)."""
        self.base = first
        self.precomputed = [
            (ind, python_values(out["value"][first:end]),
             [(name, python_values(out[name][first:end])) for name in ind.outputs])
            for ind, out in self.batches
        ]


def python_values(column: npt.NDArray[Any]) -> Sequence[Any]:
    """A column's values as Python numbers, for the data loop to iterate or index.

    A view of a numeric array's memory, else a list. A list of one chunk's 65,536 values is a
    container the cycle collector traverses value by value on each of its passes until it is
    freed (about 4 ms a pass, two passes a chunk); the view holds no values, and yields each as
    a Python ``float``, ``int`` or ``bool`` as it is read, as ``tolist`` would.
    """
    if column.dtype.kind in "biuf" and column.dtype.isnative:
        return column.data
    return column.tolist()  # type: ignore[no-any-return]


def make_stream(series: MarketSeries) -> Stream:
    """Wrap a series for the data loop."""
    if isinstance(series, BarSeries):
        return Stream(series, StreamKind.BAR, bar_step_ns(series), partial(tuple.__new__, Bar))
    if isinstance(series, QuoteSeries):
        return Stream(series, StreamKind.QUOTE, 0, _quote)
    return Stream(series, StreamKind.TRADE, 0, _trade)


@dataclass(eq=False)
class MergedRows:
    """Every row of every stream in time order (ties keep the order streams were added).

    Attributes
    ----------
    stream_ids, rows : ndarray of int32 (int64 past 2**31 rows)
        For each merged row: its stream's index and its row in that stream's series.
    columns : list of ndarray
        The seven columns of every distinct series, one after the other (a stream and its open
        turn twin share their series' rows).
    take : ndarray of int32 or int64, or None
        For each merged row, its row in ``columns``; None when rows are already in order.
    """

    stream_ids: npt.NDArray[Any]
    rows: npt.NDArray[Any]
    columns: list[npt.NDArray[Any]]
    take: npt.NDArray[Any] | None

    def chunk(self, lo: int, hi: int) -> list[Sequence[Any]]:
        """The seven columns of merged rows ``lo`` to ``hi`` (see :func:`python_values`)."""
        if self.take is None:
            return [python_values(col[lo:hi]) for col in self.columns]
        where = self.take[lo:hi]
        return [python_values(col[where]) for col in self.columns]


def merged_rows(streams: list[Stream]) -> MergedRows:
    """Merge the streams' rows in the order they become known (see the module notes)."""
    if len(streams) == 1:
        n = len(streams[0].series)
        return MergedRows(np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64),
                          streams[0].columns(), None)
    bases: dict[int, int] = {}  # id(series) -> offset of its rows in the concatenation
    per_series: list[list[npt.NDArray[Any]]] = []
    total = 0
    for stream in streams:
        if id(stream.series) not in bases:
            bases[id(stream.series)] = total
            per_series.append(stream.columns())
            total += len(stream.series)
    sizes = [len(s.series) for s in streams]
    closing = [s.kind is StreamKind.BAR and s.delivers for s in streams]
    when = np.concatenate([
        s.series.ts + s.step_ns if close else s.series.ts
        for s, close in zip(streams, closing, strict=True)
    ])
    rank = np.repeat(np.array([0 if close else (1 if s.kind is not StreamKind.BAR else 2)
                               for s, close in zip(streams, closing, strict=True)],
                              dtype=np.int8), sizes)
    step = np.repeat(np.array([s.step_ns for s in streams], dtype=np.int64), sizes)
    order = np.lexsort((step, rank, when))  # stable: ties keep the order streams were added
    del when, rank, step
    index = np.int32 if total < 2**31 else np.int64  # three of these per merged row
    rows = np.concatenate([np.arange(n, dtype=index) for n in sizes])[order]
    stream_ids = np.repeat(np.arange(len(streams), dtype=index), sizes)[order]
    del order
    offsets = np.array([bases[id(s.series)] for s in streams], dtype=index)
    take = rows + offsets[stream_ids]
    columns = [np.concatenate([cols[c] for cols in per_series]) for c in range(7)]
    return MergedRows(stream_ids, rows, columns, take)


def with_open_turns(streams: list[Stream]) -> list[Stream]:
    """The streams as the data loop walks them: with several streams, each primary bar stream
    gets a twin whose rows match orders at the bars' open, and itself only marks and delivers
    at their close; other bar streams only deliver."""
    for stream in streams:
        if stream.kind is StreamKind.BAR and not stream.primary:
            stream.matches = stream.marks = False
    if len(streams) == 1:
        return streams
    walked = list(streams)
    for stream in streams:
        if stream.kind is StreamKind.BAR and stream.primary:
            stream.matches = False
            walked.append(Stream(stream.series, stream.kind, stream.step_ns, stream.make,
                                 marks=False, delivers=False))
    return walked


def load_chunks(
    streams: list[Stream], stream_ids: npt.NDArray[Any], rows: npt.NDArray[Any]
) -> None:
    """Give each stream with rows in this chunk its slice of precomputed indicator values."""
    if len(streams) == 1:
        if streams[0].batches:
            streams[0].load_chunk(int(rows[0]), int(rows[-1]) + 1)
        return
    for k, stream in enumerate(streams):
        if stream.batches:
            mine = rows[stream_ids == k]
            if mine.size:
                stream.load_chunk(int(mine[0]), int(mine[-1]) + 1)


def marks_on(timeline: IntArray, streams: list[Stream]) -> dict[str, FloatArray]:
    """Each symbol's latest mark price at every time of ``timeline`` (NaN before its first).

    A symbol with bars is marked by their closes; otherwise by its ticks.
    """
    marks: dict[str, FloatArray] = {}
    for stream in sorted(streams, key=lambda s: s.kind is StreamKind.BAR):
        columns = stream.columns()
        if columns[0] is timeline:  # the stream's own times (one stream): a mark at each
            marks[stream.symbol] = _read_only(columns[6])  # its own closes, not a copy
            continue
        idx = np.searchsorted(columns[0], timeline, side="right") - 1
        marks[stream.symbol] = np.where(idx >= 0, columns[6][np.maximum(idx, 0)], np.nan)
    return marks


def _read_only(column: FloatArray) -> FloatArray:
    view = column.view()
    view.flags.writeable = False
    return view


def union_of_times(columns: list[IntArray]) -> IntArray:
    """The sorted distinct times of several time columns."""
    if len(columns) == 1:
        return columns[0]
    merged = np.sort(np.concatenate(columns), kind="stable")
    keep = np.empty(merged.shape[0], dtype=bool)
    keep[:1] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def price_decimals(series: MarketSeries) -> int:
    """How many decimals the series' prices use (at most 8), from a sample."""
    if isinstance(series, BarSeries):
        sample = np.concatenate([series.open[:500], series.close[:500]])
    elif isinstance(series, QuoteSeries):
        sample = np.concatenate([series.bid[:500], series.ask[:500]])
    else:
        sample = series.price[:1000]
    best = 0
    for value in sample.tolist():
        text = repr(value)
        if "e" in text:
            return 8
        if "." in text:
            best = max(best, len(text.split(".")[1].rstrip("0")))
    return min(best, 8)


#: One chunk of a bar stream ready for the data loop: its times, its closes and its bars.
BarChunk = tuple[Sequence[int], Sequence[float], list[Bar]]


class BarCache:
    """The ``Bar`` objects of bar streams, built once and handed to every later run over the
    same data (an optimisation's trials), so that each run skips turning the columns into
    Python objects. Bars are immutable, so runs can share them.

    Kept in memory (roughly 300 bytes a bar) up to ``max_bars``; past that the bars of the
    series seen longest ago are dropped first, and a series larger than the budget alone is
    not kept at all.

    Parameters
    ----------
    max_bars : int
        The most bars kept.
    """

    def __init__(self, max_bars: int = 250_000) -> None:
        self.max_bars = max_bars
        self._kept = 0
        # keyed by the series' id: the entry holds the series, so the id stays its own
        self._chunks: dict[tuple[int, int, int], tuple[MarketSeries, BarChunk]] = {}

    def __len__(self) -> int:
        return self._kept

    def get(self, series: MarketSeries, lo: int, hi: int) -> BarChunk | None:
        """The bars of rows ``lo`` to ``hi`` of ``series`` when kept, else None."""
        found = self._chunks.get((id(series), lo, hi))
        return None if found is None else found[1]

    def wants(self, series: MarketSeries) -> bool:
        """Whether the bars of ``series`` would be kept (it fits in the budget on its own)."""
        return len(series) <= self.max_bars

    def put(self, series: MarketSeries, lo: int, hi: int, chunk: BarChunk) -> None:
        """Keep the bars of rows ``lo`` to ``hi`` of ``series``, dropping the bars of other
        series seen longest ago to make room."""
        size = hi - lo
        mine = id(series)
        for key in list(self._chunks):
            if self._kept + size <= self.max_bars:
                break
            if key[0] != mine:
                self._kept -= key[2] - key[1]
                del self._chunks[key]
        if self._kept + size <= self.max_bars:
            self._chunks[(mine, lo, hi)] = (series, chunk)
            self._kept += size
