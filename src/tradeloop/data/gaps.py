"""Bar length inference and gap detection.

Gaps are reported, never filled. The weekend rule: every week has a closed window from
Friday 20:00 UTC to Monday 00:00 UTC (52 hours). Time inside that window never counts as
missing, so the Friday-to-Sunday-evening break of FX data (the market shuts at 21:00 or 22:00 UTC
on Friday and reopens on Sunday evening) and the Friday-to-Monday step of daily equity bars are
not gaps. A step between two consecutive bars is a gap when the time it leaves uncovered (from the
end of the earlier bar to the start of the later one), minus the weekend window, is more than half
a bar: that is, when the step is more than 1.5 bar lengths once weekend time is removed. A missing
weekday (an exchange holiday in daily equity data) is therefore reported as a gap; so are the
overnight breaks of intraday data from exchanges that close every night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, ns_to_iso
from tradeloop.model.data import BarSeries, IntArray

WEEK_NS = 7 * NANOS_PER_DAY
WEEKEND_START_NS = 4 * NANOS_PER_DAY + 20 * NANOS_PER_HOUR
"""Offset of the weekend window from Monday 00:00 UTC (Friday 20:00 UTC)."""
WEEKEND_NS = WEEK_NS - WEEKEND_START_NS
_FIRST_MONDAY_NS = 4 * NANOS_PER_DAY  # 1970-01-05T00:00:00Z, the first Monday after the epoch


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing bars between two consecutive bars.

    Attributes
    ----------
    start_ns : int
        Open time (UTC ns) of the last bar before the gap.
    end_ns : int
        Open time (UTC ns) of the first bar after the gap.
    missing_bars : int
        How many bars of the series' bar length fit in the missing weekday time (at least 1).
    """

    start_ns: int
    end_ns: int
    missing_bars: int

    def __str__(self) -> str:
        return (
            f"{self.missing_bars} missing bar(s) between {ns_to_iso(self.start_ns)} "
            f"and {ns_to_iso(self.end_ns)}"
        )


def infer_timeframe(ts: IntArray) -> int:
    """Return the most common step between consecutive timestamps.

    Parameters
    ----------
    ts : ndarray of int64
        Strictly increasing UTC nanosecond timestamps.

    Returns
    -------
    int
        The bar length in nanoseconds; the smallest of equally common steps; 0 with fewer than
        two timestamps.
    """
    if ts.shape[0] < 2:
        return 0
    steps = np.diff(ts)
    values, counts = np.unique(steps, return_counts=True)
    return int(values[int(np.argmax(counts))])


def _weekend_time_before(ts: IntArray) -> IntArray:
    """Weekend-window nanoseconds between the first Monday after the epoch and each ``ts``."""
    shifted = ts - _FIRST_MONDAY_NS
    weeks = shifted // WEEK_NS
    within = shifted - weeks * WEEK_NS
    weekend: IntArray = weeks * WEEKEND_NS + np.maximum(within - WEEKEND_START_NS, 0)
    return weekend


def find_gaps(bars: BarSeries) -> list[Gap]:
    """Find the steps between consecutive bars that skip at least one bar of weekday time.

    Parameters
    ----------
    bars : BarSeries
        A valid series. Its ``timeframe_ns`` is the bar length; when it is 0 the most common step
        is used.

    Returns
    -------
    list of Gap
        In time order; empty when the series has fewer than two bars.

    Notes
    -----
    A step from ``t0`` to ``t1`` leaves ``[t0 + bar, t1)`` uncovered. Time in that interval that
    falls between Friday 20:00 UTC and Monday 00:00 UTC is removed; if more than half a bar is
    left, the step is a gap of ``max(1, round(left / bar))`` missing bars.
    """
    ts = np.asarray(bars.ts, dtype=np.int64)
    timeframe = bars.timeframe_ns or infer_timeframe(ts)
    if ts.shape[0] < 2 or timeframe <= 0:
        return []
    steps = np.diff(ts)
    candidates = np.flatnonzero(2 * steps > 3 * timeframe)
    if candidates.shape[0] == 0:
        return []
    uncovered_start = ts[candidates] + timeframe
    uncovered_end = ts[candidates + 1]
    weekend = _weekend_time_before(uncovered_end) - _weekend_time_before(uncovered_start)
    missing = (uncovered_end - uncovered_start) - weekend
    is_gap = 2 * missing > timeframe
    bars_missing = np.maximum(np.rint(missing / timeframe), 1).astype(np.int64)
    return [
        Gap(int(ts[i]), int(ts[i + 1]), int(n))
        for i, n in zip(candidates[is_gap], bars_missing[is_gap], strict=True)
    ]
