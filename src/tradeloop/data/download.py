"""Historical bars from a broker or data vendor into the data store, resumable.

:func:`download_bars` asks the market data client only for what the store does not hold yet:
before the first stored bar and after the last one (a gap inside what is stored is taken as
the venue's own, not fetched again). It fetches and writes one chunk at a time, oldest
first, so an interrupted download keeps what it wrote and the next run continues after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tradeloop.core.errors import ConfigError
from tradeloop.data.store import DataStore, WriteResult
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.model.data import BarSeries

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: Bars fetched (and written) per chunk.
CHUNK_BARS = 10_000


class HistorySource(Protocol):
    """What a download needs of a market data client."""

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars opening in ``[start_ns, end_ns)``."""
        ...


@dataclass
class DownloadResult:
    """What one download did.

    Attributes
    ----------
    venue, symbol, timeframe : str
    start_ns, end_ns : int
        The range asked for.
    ranges : list of (int, int)
        The ranges that were missing and fetched, ``[start, end)``.
    fetched : int
        Bars the venue returned.
    added, replaced, unchanged : int
        What the store made of them.
    """

    venue: str
    symbol: str
    timeframe: str
    start_ns: int
    end_ns: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    fetched: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0

    @property
    def up_to_date(self) -> bool:
        """True when the store already held the whole range."""
        return not self.ranges


def stored_range(store: DataStore, symbol: str, timeframe: str, venue: str
                 ) -> tuple[int, int] | None:
    """First and last stored bar time of a dataset (None when nothing is stored)."""
    label = parse_timeframe(timeframe).label
    for entry in store.catalog():
        if (entry.kind == "bars" and entry.venue == venue and entry.symbol == symbol
                and entry.timeframe == label and entry.rows > 0):
            return entry.first_ts, entry.last_ts
    return None


def missing_ranges(start_ns: int, end_ns: int, stored: tuple[int, int] | None,
                   length_ns: int) -> list[tuple[int, int]]:
    """The parts of ``[start_ns, end_ns)`` outside the stored span."""
    if start_ns >= end_ns:
        return []
    if stored is None:
        return [(start_ns, end_ns)]
    first, last = stored
    out = []
    if start_ns < first:
        out.append((start_ns, min(first, end_ns)))
    after = last + length_ns
    if after < end_ns:
        out.append((max(after, start_ns), end_ns))
    return [(a, b) for a, b in out if a < b]


async def download_bars(source: HistorySource, store: DataStore, symbol: str, timeframe: str,
                        start_ns: int, end_ns: int, *, venue: str,
                        progress: Progress | None = None,
                        chunk_bars: int = CHUNK_BARS) -> DownloadResult:
    """Fetch the bars of ``[start_ns, end_ns)`` the store lacks and store them.

    Parameters
    ----------
    source : HistorySource
        The venue's market data client (connected).
    store : DataStore
    symbol, timeframe : str
    start_ns, end_ns : int
        UTC nanoseconds; ``end_ns`` is exclusive.
    venue : str
        The store's venue for the dataset.
    progress : callable, optional
        Called with (bars covered, bars to cover) after each chunk.
    chunk_bars : int
        Bars per fetch-and-write step.

    Raises
    ------
    ConfigError
        An empty range, an unknown symbol or bar length.
    """
    if end_ns <= start_ns:
        raise ConfigError("the download range is empty: --to must be after --from")
    frame = parse_timeframe(timeframe)
    result = DownloadResult(venue, symbol, frame.label, start_ns, end_ns)
    result.ranges = missing_ranges(start_ns, end_ns, stored_range(store, symbol, frame.label,
                                                                    venue), frame.ns)
    total = sum(b - a for a, b in result.ranges)
    done = 0
    step = max(1, chunk_bars) * frame.ns
    for first, last in result.ranges:
        cursor = first
        while cursor < last:
            upper = min(cursor + step, last)
            bars = await source.historical_bars(symbol, frame.label, cursor, upper)
            if len(bars):
                written: WriteResult = store.write_bars(bars, venue=venue, timeframe=frame)
                result.fetched += len(bars)
                result.added += written.rows_added
                result.replaced += written.rows_replaced
                result.unchanged += written.rows_unchanged
            done += upper - cursor
            cursor = upper
            if progress is not None:
                progress(done // frame.ns, total // frame.ns)
    logger.info("bars downloaded", extra={"fields": {
        "venue": venue, "symbol": symbol, "timeframe": frame.label,
        "fetched": result.fetched, "added": result.added, "ranges": len(result.ranges)}})
    return result


__all__ = ["CHUNK_BARS", "DownloadResult", "HistorySource", "download_bars", "missing_ranges",
           "stored_range"]
