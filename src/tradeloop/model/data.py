"""Market data: bars, quote ticks, trade ticks, and column-oriented bar series.

Bars and ticks are float64 (fast in the middle); orders and fills use ``Decimal``. A bar's ``ts``
is its open time in UTC nanoseconds, as data vendors label daily and intraday bars; a strategy
sees a bar only once it has closed, and orders it sends then fill from the next bar on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tradeloop.core.time import timeframe_label

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Bar(NamedTuple):
    """One OHLCV bar of one instrument.

    Attributes
    ----------
    symbol : str
    ts : int
        The bar's open time (its label), UTC nanoseconds.
    open, high, low, close, volume : float
    timeframe : str
        The bar length, spelled canonically (``"1m"``, ``"1h"``, ``"1d"``); ``""`` when unknown.
        A strategy that subscribes to several timeframes tells its bars apart by it.
    """

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    timeframe: str = ""


class QuoteTick(NamedTuple):
    """A top-of-book quote."""

    symbol: str
    ts: int
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0


class TradeTick(NamedTuple):
    """A trade printed on the tape."""

    symbol: str
    ts: int
    price: float
    size: float
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class BarSeries:
    """The bars of one instrument as columns, sorted by time with no duplicate timestamps.

    Attributes
    ----------
    symbol : str
    ts : ndarray of int64
        Bar open times, UTC nanoseconds, strictly increasing.
    open, high, low, close, volume : ndarray of float64
    timeframe_ns : int
        The bar length in nanoseconds (the most common step between bars), 0 if unknown.
    source : str
        Where the bars came from (a file path), for error messages.
    """

    symbol: str
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    timeframe_ns: int = 0
    source: str = ""

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def bar(self, index: int) -> Bar:
        """Return the bar at ``index`` as a :class:`Bar`."""
        return Bar(
            self.symbol,
            int(self.ts[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
            timeframe_label(self.timeframe_ns),
        )

    def slice_time(self, start_ns: int | None = None, end_ns: int | None = None) -> BarSeries:
        """Return the bars with ``start_ns <= ts <= end_ns`` (either bound may be omitted)."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, side="left"))
        hi = len(self) if end_ns is None else int(np.searchsorted(self.ts, end_ns, side="right"))
        return BarSeries(
            self.symbol,
            self.ts[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
            self.timeframe_ns,
            self.source,
        )

    def with_symbol(self, symbol: str) -> BarSeries:
        """Return the same bars under another symbol."""
        return BarSeries(
            symbol, self.ts, self.open, self.high, self.low, self.close, self.volume,
            self.timeframe_ns, self.source,
        )


@dataclass(frozen=True, slots=True)
class QuoteSeries:
    """Top-of-book quotes of one instrument as columns, sorted by time.

    Attributes
    ----------
    symbol : str
    ts : ndarray of int64
        Quote times, UTC nanoseconds, non-decreasing.
    bid, ask, bid_size, ask_size : ndarray of float64
    source : str
    """

    symbol: str
    ts: IntArray
    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    source: str = ""

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass(frozen=True, slots=True)
class TradeSeries:
    """Trade prints of one instrument as columns, sorted by time.

    Attributes
    ----------
    symbol : str
    ts : ndarray of int64
        Trade times, UTC nanoseconds, non-decreasing.
    price, size : ndarray of float64
    source : str
    """

    symbol: str
    ts: IntArray
    price: FloatArray
    size: FloatArray
    source: str = ""

    def __len__(self) -> int:
        return int(self.ts.shape[0])


#: Any column-oriented market data stream a backtest can replay.
MarketSeries = BarSeries | QuoteSeries | TradeSeries
