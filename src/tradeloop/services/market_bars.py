"""Bars of the market data a running node has seen, for the dashboard's candles: built from
its quotes (mid price, volume = number of quotes, buckets from UTC midnight) or, for a node fed
with bars, resampled from those bars. Completed bars are kept per symbol and timeframe, so each
poll only builds the bar in progress."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tradeloop.core.errors import ConfigError
from tradeloop.data.bars import TimeBars, build_bars
from tradeloop.data.resample import resample_bars
from tradeloop.data.timeframes import Timeframe, bucket_starts, parse_timeframe
from tradeloop.model.data import Bar, BarSeries, QuoteSeries, QuoteTick

if TYPE_CHECKING:
    from tradeloop.engine.live import TradingNode

MAX_MARKET_BARS = 5_000
"""The most bars :meth:`BarBook.bars` returns (and keeps per symbol and timeframe)."""
_MAX_BAR_CACHES = 32
_MIN_TS = -(1 << 63)


class _BarCache:
    """The completed bars of one symbol and timeframe, and where the bar in progress starts
    among the recorded quotes (so each call builds only from there)."""

    def __init__(self, first_quote: int, start_ts: int) -> None:
        self.start_ts = start_ts
        self.next_quote = first_quote
        self.open_ts = _MIN_TS
        self.bars: deque[Bar] = deque(maxlen=MAX_MARKET_BARS)

    def covers_from(self) -> int:
        """From when the bars here are complete."""
        if len(self.bars) == self.bars.maxlen:
            return self.bars[0].ts
        return self.start_ts


def _quote_ts(quote: QuoteTick) -> int:
    return quote.ts


def _recorded(node: TradingNode) -> tuple[dict[str, list[QuoteTick]],
                                          dict[tuple[str, str], list[Bar]]]:
    # the node's MarketRecorder (services.node) keeps every quote and bar it saw
    recorder = getattr(node, "market_recorder", None)
    if recorder is None:
        return {}, {}
    return recorder.all_quotes(), recorder.all_bars()


def _quote_series(symbol: str, quotes: list[QuoteTick], open_ts: int) -> QuoteSeries:
    ts = np.fromiter((q.ts for q in quotes), dtype=np.int64, count=len(quotes))
    bid = np.fromiter((q.bid for q in quotes), dtype=np.float64, count=len(quotes))
    ask = np.fromiter((q.ask for q in quotes), dtype=np.float64, count=len(quotes))
    # late quotes (before the bar in progress) and unusable prices are left out
    keep = (ts >= open_ts) & np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask > 0)
    if not keep.all():
        ts, bid, ask = ts[keep], bid[keep], ask[keep]
    if ts.shape[0] > 1 and bool((np.diff(ts) < 0).any()):
        order = np.argsort(ts, kind="stable")
        ts, bid, ask = ts[order], bid[order], ask[order]
    ones = np.ones(ts.shape[0])
    return QuoteSeries(symbol, ts, bid, ask, ones, ones, source=f"{symbol} quotes")


def _bars_from_bars(symbol: str, recorded: dict[tuple[str, str], list[Bar]], frame: Timeframe,
                    limit: int) -> list[Bar]:
    sources = sorted(((parse_timeframe(label), bars) for (sym, label), bars in recorded.items()
                      if sym == symbol and label and bars), key=lambda item: item[0].ns)
    if not sources:
        return []
    usable = [(f, bars) for f, bars in sources if frame.ns % f.ns == 0]
    if not usable:
        have = ", ".join(f.label for f, _ in sources)
        raise ConfigError(f"timeframe {frame.label}: {symbol} was seen in {have} bars; ask for "
                          "one of those or a multiple")
    source, bars = usable[-1]
    step = frame.ns // source.ns
    window = bars[-(limit + 1) * step:]
    if step == 1:
        return window[-limit:]
    o, h, lo, c, v = (np.array([b[k] for b in window], dtype=np.float64) for k in range(2, 7))
    series = BarSeries(symbol, np.array([b.ts for b in window], dtype=np.int64), o, h, lo, c, v,
                       timeframe_ns=source.ns, source=f"{symbol} {source.label} bars")
    built = resample_bars(series, frame, include_partial=True)
    return [built.bar(i) for i in range(max(len(built) - limit, 0), len(built))]


@dataclass(frozen=True)
class MarketBars:
    """Bars of one symbol, oldest first (the last may still be forming).

    Attributes
    ----------
    symbol : str
    timeframe : str
        The bar length's label (``"1m"``).
    bars : list of Bar
    """

    symbol: str
    timeframe: str
    bars: list[Bar]


class BarBook:
    """The bars built so far, per symbol and timeframe, for one node."""

    def __init__(self) -> None:
        self._bar_caches: dict[tuple[str, int], _BarCache] = {}

    def bars(self, node: TradingNode, known: list[str], symbol: str | None, timeframe: str,
             limit: int) -> MarketBars:
        """The newest ``limit`` bars of ``symbol`` (by default the first of ``known`` with
        market data), the last possibly still forming.

        Raises
        ------
        ConfigError
            For an unknown symbol or timeframe, or a timeframe the recorded bars cannot make.
        """
        frame = parse_timeframe(timeframe)
        quotes, recorded = _recorded(node)
        if symbol is None:
            seen = set(quotes) | {sym for sym, _ in recorded}
            symbol = next((s for s in known if s in seen), known[0] if known else "")
        elif symbol not in known:
            raise ConfigError(f"symbol {symbol!r}: this node trades {', '.join(known)}")
        if quotes.get(symbol):
            found = self._quote_bars(symbol, quotes[symbol], frame, limit)
        else:
            found = _bars_from_bars(symbol, recorded, frame, limit)
        return MarketBars(symbol, frame.label, found)

    def _quote_bars(self, symbol: str, quotes: list[QuoteTick], frame: Timeframe,
                    limit: int) -> list[Bar]:
        key = (symbol, frame.ns)
        cache = self._bar_caches.get(key)
        # the open of the bucket ``limit`` bars before the last quote's, so no bar is cut
        wanted_from = int(bucket_starts(np.array([quotes[-1].ts - (limit - 1) * frame.ns],
                                                 dtype=np.int64), frame)[0])
        if cache is None or wanted_from < cache.covers_from():  # new, or more bars asked
            first = bisect_left(quotes, wanted_from, key=_quote_ts)
            cache = _BarCache(first, wanted_from if first > 0 else _MIN_TS)
            self._bar_caches.pop(key, None)
            while len(self._bar_caches) >= _MAX_BAR_CACHES:  # forget the oldest
                self._bar_caches.pop(next(iter(self._bar_caches)))
            self._bar_caches[key] = cache
        start = cache.next_quote
        built = build_bars(_quote_series(symbol, quotes[start:], cache.open_ts),
                           TimeBars(frame), include_partial=True)
        if len(built) == 0:
            return list(cache.bars)[-limit:]
        cache.bars.extend(built.bar(i) for i in range(len(built) - 1))
        forming = built.bar(len(built) - 1)
        cache.open_ts = forming.ts
        cache.next_quote = bisect_left(quotes, forming.ts, lo=start, key=_quote_ts)
        done = list(cache.bars)
        return [*done[max(len(done) - limit + 1, 0):], forming]
