"""Resampling stored bars to a longer timeframe, and the bucket arithmetic bar building shares.

Buckets come from :func:`~tradeloop.data.timeframes.bucket_starts`. Two facts about them are
added here, both derived from that function and never re-deriving the alignment:

* **Bucket ends.** The end of a bucket is the start of the next one. Without a timezone that is
  ``start + timeframe``; with one it is found by moving the start's wall-clock time forward by
  whole timeframes (``wall + k * timeframe``, back to UTC) and asking ``bucket_starts`` which
  bucket that instant opens. The first result after the start is the end; the next results are
  the following buckets, so a run of consecutive buckets costs one vectorised call.
* **Tiling.** Buckets tile the time line: a timestamp belongs to the last bucket start at or
  before it. ``bucket_starts`` alone is not monotone when the clocks go back and the bucket is
  shorter than the repeated hour (30-minute buckets in New York on the night of the November
  change: 01:00-01:30 local happens twice, and ``bucket_starts`` labels the second pass with the
  first pass's earlier start). :func:`tiled_bucket_starts` gives such timestamps the last
  bucket that has already begun, so bar labels always increase, a bar that has closed by the
  clock never receives a later tick, and the streaming and batch builders agree.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np
import pandas as pd

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_iso
from tradeloop.data.gaps import infer_timeframe
from tradeloop.data.timeframes import (
    UTC_MIDNIGHT,
    BucketAlignment,
    Timeframe,
    bucket_starts,
    parse_timeframe,
)
from tradeloop.model.data import BarSeries, FloatArray, IntArray

_CHAIN_STEP = 64  # buckets generated per row and round when walking forward in local time
_SUM_CHUNK = 1 << 22  # cells of one padded block in sequential_segment_sums
_TABLE_SIZE = 256  # bucket starts a BucketTable looks ahead at once
MIN_TS = -(1 << 63)
"""A timestamp before every other: "no lower bound" for :meth:`BucketTable.locate`."""


def _is_utc(alignment: BucketAlignment) -> bool:
    return alignment.timezone in ("UTC", "Etc/UTC")


def _wall_clock(ts: IntArray, zone: str) -> IntArray:
    index = pd.DatetimeIndex(ts.view("M8[ns]"), tz="UTC").tz_convert(zone)
    return np.asarray(index.tz_localize(None).asi8, dtype=np.int64)


def _wall_to_utc(wall: IntArray, zone: str) -> IntArray:
    index = pd.DatetimeIndex(wall.view("M8[ns]")).tz_localize(
        zone, ambiguous=np.ones(wall.shape[0], dtype=bool), nonexistent="shift_forward"
    )
    return np.asarray(index.asi8, dtype=np.int64)


def _following_starts(
    starts: IntArray, steps: IntArray, timeframe: Timeframe, alignment: BucketAlignment
) -> tuple[IntArray, IntArray]:
    """For row i, the starts opened at wall + 1..steps[i] timeframes after starts[i].

    Returns the flat candidates (non-decreasing within a row, repeats where a local grid time
    falls into a daylight-saving gap) and the row of each.
    """
    rows = np.repeat(np.arange(starts.shape[0], dtype=np.int64), steps)
    first = np.cumsum(steps) - steps
    k = np.arange(rows.shape[0], dtype=np.int64) - np.repeat(first, steps) + 1
    if _is_utc(alignment):
        return starts[rows] + k * timeframe.ns, rows
    zone = alignment.timezone
    wall = _wall_clock(starts, zone)[rows] + k * timeframe.ns
    return bucket_starts(_wall_to_utc(wall, zone), timeframe, alignment), rows


def bucket_ends(
    starts: IntArray, timeframe: Timeframe, alignment: BucketAlignment = UTC_MIDNIGHT
) -> IntArray:
    """The close time of each bucket: the open time of the bucket after it.

    Parameters
    ----------
    starts : ndarray of int64
        Bucket open times (UTC ns) as :func:`bucket_starts` or :func:`tiled_bucket_starts`
        return them for the same ``timeframe`` and ``alignment``; any order.
    timeframe : Timeframe
    alignment : BucketAlignment, optional

    Returns
    -------
    ndarray of int64
        The end of each bucket, UTC ns. A daily bucket is 23 or 25 hours long on the days the
        clocks change in ``alignment.timezone``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if _is_utc(alignment):
        return starts + timeframe.ns
    unique, inverse = np.unique(starts, return_inverse=True)
    ends, _ = _following_starts(unique, np.ones(unique.shape[0], np.int64), timeframe, alignment)
    return np.asarray(ends[inverse.reshape(-1)], dtype=np.int64)


def _advance(
    current: IntArray, ts: IntArray, timeframe: Timeframe, alignment: BucketAlignment
) -> IntArray:
    """Move each bucket start forward to the last bucket start at or before ``ts``."""
    current = current.copy()
    ends = bucket_ends(current, timeframe, alignment)
    todo = np.flatnonzero(ends <= ts)
    while todo.shape[0]:
        steps = np.full(todo.shape[0], _CHAIN_STEP, dtype=np.int64)
        following, rows = _following_starts(current[todo], steps, timeframe, alignment)
        reached = (following <= ts[todo][rows]).reshape(-1, _CHAIN_STEP)
        count = reached.sum(axis=1)
        table = following.reshape(-1, _CHAIN_STEP)
        latest = table[np.arange(todo.shape[0]), np.maximum(count - 1, 0)]
        current[todo] = np.where(count > 0, latest, current[todo])
        todo = todo[count == _CHAIN_STEP]
    return current


def tiled_bucket_starts(
    ts: IntArray, timeframe: Timeframe, alignment: BucketAlignment = UTC_MIDNIGHT
) -> IntArray:
    """The open time of the bucket each timestamp falls in, with buckets tiling the time line.

    Parameters
    ----------
    ts : ndarray of int64
        UTC nanoseconds, non-decreasing.
    timeframe : Timeframe
    alignment : BucketAlignment, optional

    Returns
    -------
    ndarray of int64
        For each ``ts``, the last bucket start at or before it; non-decreasing. Equal to
        :func:`bucket_starts` except for the second pass through a repeated local hour with
        buckets shorter than that hour (see the module notes).
    """
    ts = np.asarray(ts, dtype=np.int64)
    raw = bucket_starts(ts, timeframe, alignment)
    if _is_utc(alignment) or ts.shape[0] == 0:
        return raw
    return _advance(np.maximum.accumulate(raw), ts, timeframe, alignment)


def bucket_chain(
    start: int, count: int, timeframe: Timeframe, alignment: BucketAlignment = UTC_MIDNIGHT
) -> IntArray:
    """``count`` consecutive bucket starts, the first being ``start`` (itself a bucket start).

    Parameters
    ----------
    start : int
        A bucket start, UTC ns.
    count : int
        How many starts to return, at least 1.
    timeframe : Timeframe
    alignment : BucketAlignment, optional

    Returns
    -------
    ndarray of int64
        Increasing; element ``i + 1`` is the end of the bucket opening at element ``i``.
    """
    if _is_utc(alignment):
        return start + np.arange(count, dtype=np.int64) * timeframe.ns
    found = [int(start)]
    while len(found) < count:
        following, _ = _following_starts(
            np.array([found[-1]], dtype=np.int64), np.array([count], dtype=np.int64), timeframe,
            alignment,
        )
        found.extend(np.unique(following[following > found[-1]]).tolist())
    return np.asarray(found[:count], dtype=np.int64)


def bucket_range(
    first: IntArray, stop: IntArray, timeframe: Timeframe, alignment: BucketAlignment = UTC_MIDNIGHT
) -> tuple[IntArray, IntArray]:
    """Every bucket start from ``first[i]`` (a bucket start) up to, not including, ``stop[i]``.

    Parameters
    ----------
    first, stop : ndarray of int64
        One range per element; ``first`` must hold bucket starts.
    timeframe : Timeframe
    alignment : BucketAlignment, optional

    Returns
    -------
    starts : ndarray of int64
        The bucket starts of all ranges, range by range, each range increasing.
    owner : ndarray of int64
        For each start, the index of its range.
    """
    first = np.asarray(first, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    live = np.flatnonzero(first < stop)
    if _is_utc(alignment):
        counts = (stop[live] - first[live] + timeframe.ns - 1) // timeframe.ns
        owner = np.repeat(live, counts)
        offset = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        return first[owner] + offset * timeframe.ns, owner
    found_starts, found_owner = [first[live]], [live]
    current = first[live]
    while live.shape[0]:
        steps = np.clip((stop[live] - current) // timeframe.ns + 2, 1, 1 << 16)
        following, rows = _following_starts(current, steps, timeframe, alignment)
        previous = np.concatenate(([np.int64(-1)], following[:-1]))
        fresh = ((following > previous) | (np.r_[True, rows[1:] != rows[:-1]])) & (
            following > current[rows]
        )
        keep = fresh & (following < stop[live][rows])
        found_starts.append(following[keep])
        found_owner.append(live[rows[keep]])
        last = np.cumsum(steps) - 1
        unfinished = following[last] < stop[live]
        current, live = following[last][unfinished], live[unfinished]
    starts = np.concatenate(found_starts)
    owner = np.concatenate(found_owner)
    order = np.lexsort((starts, owner))
    return starts[order], owner[order]


def sequential_segment_sums(values: FloatArray, begins: IntArray, ends: IntArray) -> FloatArray:
    """Sum each ``values[begins[i]:ends[i]]`` strictly left to right, as ``total += x`` does.

    NumPy's ``sum`` and ``add.reduceat`` add in pairs, which can differ from a running total in
    the last bits; the streaming bar builder keeps a running total, so batch code uses this to
    get the very same floats. Segments are grouped by length, padded with zeros and summed with
    ``cumsum`` (a left-to-right recurrence) along rows.

    Parameters
    ----------
    values : ndarray of float64
    begins, ends : ndarray of int64
        Segment bounds; empty segments sum to 0.0.

    Returns
    -------
    ndarray of float64
    """
    lengths = ends - begins
    out = np.zeros(lengths.shape[0], dtype=np.float64)
    if lengths.shape[0] == 0 or values.shape[0] == 0:
        return out
    width_class = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for klass in np.unique(width_class[lengths > 0]).tolist():
        width = 1 << klass
        members = np.flatnonzero((width_class == klass) & (lengths > 0))
        per_chunk = max(1, _SUM_CHUNK // width)
        columns = np.arange(width, dtype=np.int64)
        for lo in range(0, members.shape[0], per_chunk):
            rows = members[lo : lo + per_chunk]
            index = begins[rows, None] + columns
            inside = columns < lengths[rows, None]
            block = np.where(inside, values[np.minimum(index, values.shape[0] - 1)], 0.0)
            running = np.cumsum(block, axis=1)
            out[rows] = running[np.arange(rows.shape[0]), lengths[rows] - 1]
    return out


class BucketTable:
    """Bucket lookups for one timestamp at a time, as the streaming bar builder needs them.

    Holds a run of consecutive bucket starts and answers by bisection; when a timestamp falls
    past the run, it asks :func:`tiled_bucket_starts` once and looks the next buckets up in one
    vectorised call, so the cost is per run of buckets, not per tick. The answers are those of
    the vectorised functions.

    Parameters
    ----------
    timeframe : Timeframe
    alignment : BucketAlignment
    """

    __slots__ = ("_alignment", "_starts", "_timeframe")

    def __init__(self, timeframe: Timeframe, alignment: BucketAlignment) -> None:
        self._timeframe = timeframe
        self._alignment = alignment
        self._starts: list[int] = []

    def locate(self, ts: int, floor: int) -> tuple[int, int]:
        """The bucket ``[start, end)`` holding ``ts``.

        ``floor`` is a bucket start at or before ``ts`` known to the caller (the end of the last
        closed bucket), or :data:`MIN_TS` when there is none.
        """
        starts = self._starts
        if starts and starts[0] <= ts < starts[-1]:
            i = bisect_right(starts, ts) - 1
            return starts[i], starts[i + 1]
        probe = np.array([ts], dtype=np.int64)
        if floor != MIN_TS:
            probe = np.array([floor, ts], dtype=np.int64)
        start = int(tiled_bucket_starts(probe, self._timeframe, self._alignment)[-1])
        self._starts = bucket_chain(start, _TABLE_SIZE, self._timeframe,
                                    self._alignment).tolist()
        return self._starts[0], self._starts[1]

    def between(self, first: int, stop: int) -> list[int]:
        """The bucket starts in ``[first, stop)``; ``first`` is a bucket start."""
        starts = self._starts
        if starts and starts[0] <= first and stop <= starts[-1]:
            return starts[bisect_left(starts, first) : bisect_left(starts, stop)]
        found, _ = bucket_range(np.array([first], dtype=np.int64),
                                np.array([stop], dtype=np.int64), self._timeframe, self._alignment)
        return [int(v) for v in found.tolist()]

    def end_of(self, start: int) -> int:
        """The end of the bucket opening at ``start``."""
        starts = self._starts
        if starts and starts[0] <= start < starts[-1]:
            return starts[bisect_right(starts, start)]
        return int(bucket_ends(np.array([start], dtype=np.int64), self._timeframe,
                               self._alignment)[0])


def _source_timeframe(bars: BarSeries) -> Timeframe:
    source_ns = bars.timeframe_ns or infer_timeframe(np.asarray(bars.ts, dtype=np.int64))
    if source_ns <= 0:
        raise ConfigError(
            f"{bars.source or bars.symbol}: cannot resample: the bar length is unknown "
            "(set timeframe_ns on the series)"
        )
    return Timeframe(source_ns)


def _check_target(source: Timeframe, target: Timeframe) -> None:
    if target.ns <= source.ns:
        raise ConfigError(
            f"cannot resample {source} bars to {target}: the target timeframe must be longer "
            "than the source"
        )
    if target.ns % source.ns:
        raise ConfigError(
            f"cannot resample {source} bars to {target}: {source} does not divide {target}, "
            f"so some {source} bars would straddle two {target} bars"
        )


def _describe(alignment: BucketAlignment) -> str:
    return f"aligned at {alignment.anchor} {alignment.timezone}"


def resample_bars(
    bars: BarSeries,
    timeframe: Timeframe | str,
    alignment: BucketAlignment = UTC_MIDNIGHT,
    *,
    end_ns: int | None = None,
    include_partial: bool = False,
) -> BarSeries:
    """Aggregate bars into a longer timeframe: first open, highest high, lowest low, last close.

    Parameters
    ----------
    bars : BarSeries
        Source bars, strictly increasing ``ts``; ``timeframe_ns`` gives their length (when 0,
        the most common step is used).
    timeframe : Timeframe or str
        The target length, such as ``"5m"``, ``"4h"``, ``"1d"`` or ``"1w"``.
    alignment : BucketAlignment, optional
        Where target buckets start: UTC midnight by default; ``BucketAlignment(
        "America/New_York", "17:00")`` for the FX day, ``week_start="sunday"`` for FX weeks.
    end_ns : int, optional
        The end of the data (UTC ns). A target bar is complete when its bucket ends at or
        before it. Defaults to the end of the last source bar (its ``ts`` plus the source
        length).
    include_partial : bool, optional
        Keep the incomplete last bucket as well (default False: a backtest sees complete bars
        only).

    Returns
    -------
    BarSeries
        Labelled by bucket start (UTC ns), ``timeframe_ns`` set to the target. Volume is the
        left-to-right sum of the source volumes. Buckets without source bars are skipped.

    Raises
    ------
    ConfigError
        When the target is not longer than the source, the source length does not divide it,
        or a source bar straddles a target bucket boundary (the message names the bar).
    DataError
        When the source timestamps are not strictly increasing.
    """
    target = parse_timeframe(timeframe)
    where = bars.source or bars.symbol
    ts = np.asarray(bars.ts, dtype=np.int64)
    if ts.shape[0] == 0:
        empty = np.empty(0, dtype=np.float64)
        return BarSeries(bars.symbol, ts, empty, empty, empty, empty, empty, target.ns,
                         bars.source)
    source = _source_timeframe(bars)
    _check_target(source, target)
    steps = np.diff(ts)
    if steps.shape[0] and not (steps > 0).all():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise DataError(f"{where}: bar {row} at {ns_to_iso(int(ts[row]))}: timestamps must be "
                        "strictly increasing")
    starts = tiled_bucket_starts(ts, target, alignment)
    begins = np.concatenate(([0], np.flatnonzero(starts[1:] != starts[:-1]) + 1))
    seg_ends = np.append(begins[1:], ts.shape[0])
    labels = starts[begins]
    closes = bucket_ends(labels, target, alignment)
    owner_close = np.repeat(closes, seg_ends - begins)
    straddle = np.flatnonzero(ts + source.ns > owner_close)
    if straddle.shape[0]:
        bad = int(straddle[0])
        raise ConfigError(
            f"{where}: the {source} bar at {ns_to_iso(int(ts[bad]))} crosses the {target} "
            f"boundary at {ns_to_iso(int(owner_close[bad]))}: {source} bars do not fit "
            f"{target} buckets {_describe(alignment)}"
        )
    data_end = int(ts[-1]) + source.ns if end_ns is None else int(end_ns)
    keep = np.ones(labels.shape[0], dtype=bool) if include_partial else closes <= data_end
    begins, seg_ends, labels = begins[keep], seg_ends[keep], labels[keep]
    if begins.shape[0] == 0:
        nothing = np.empty(0, dtype=np.float64)
        return BarSeries(bars.symbol, labels, nothing, nothing, nothing, nothing, nothing,
                         target.ns, bars.source)
    stop = int(seg_ends[-1])  # complete buckets are a prefix: their ends increase
    return BarSeries(
        bars.symbol,
        labels,
        np.asarray(bars.open, dtype=np.float64)[begins],
        np.maximum.reduceat(np.asarray(bars.high, dtype=np.float64)[:stop], begins),
        np.minimum.reduceat(np.asarray(bars.low, dtype=np.float64)[:stop], begins),
        np.asarray(bars.close, dtype=np.float64)[seg_ends - 1],
        sequential_segment_sums(np.asarray(bars.volume, dtype=np.float64), begins, seg_ends),
        target.ns,
        bars.source,
    )


def bar_close_times(bars: BarSeries, alignment: BucketAlignment = UTC_MIDNIGHT) -> IntArray:
    """When each bar of a resampled or built series closes: the end of its bucket.

    The engine delivers a higher-timeframe bar at this time, after the last lower-timeframe bar
    inside it.

    Parameters
    ----------
    bars : BarSeries
        Time bars labelled by bucket start, as :func:`resample_bars` or
        :func:`~tradeloop.data.bars.build_bars` return them, with ``timeframe_ns`` set.
    alignment : BucketAlignment, optional
        The alignment the bars were made with.

    Returns
    -------
    ndarray of int64
        UTC ns; for daily bars aligned in a timezone, 23 or 25 hours after the open on the days
        the clocks change.
    """
    if bars.timeframe_ns <= 0:
        raise ConfigError(f"{bars.source or bars.symbol}: bar close times need the bar length "
                          "(timeframe_ns is 0)")
    return bucket_ends(np.asarray(bars.ts, dtype=np.int64), Timeframe(bars.timeframe_ns),
                       alignment)


__all__ = [
    "MIN_TS",
    "BucketTable",
    "bar_close_times",
    "bucket_chain",
    "bucket_ends",
    "bucket_range",
    "resample_bars",
    "sequential_segment_sums",
    "tiled_bucket_starts",
]
