"""Historical bars and trades of US stocks, options, FX and crypto from Polygon.io.

:func:`polygon_history` builds a :class:`PolygonHistory` from a settings table. It is a
:class:`~tradeloop.data.download.HistorySource`, so :func:`~tradeloop.data.download.download_bars`
stores its bars resumably, and :func:`download_trades` does the same for trades. Every answer
is validated before it reaches the store: bars as a file import validates them (strictly, or
with ``repair = true`` dropping what is bad), trades for finite positive prices, sizes that are
not negative and time order.

Tickers are Polygon's: ``AAPL``, ``O:SPY251219C00650000``, ``C:EURUSD``, ``X:BTCUSD``
(:func:`~tradeloop.data.sources.polygon_settings.parse_ticker`). Bars are labelled by their open
time in UTC, except daily and weekly bars of US-listed instruments, which Polygon stamps at
midnight New York time and which are stored at midnight UTC of that trading day, like daily bars
from a file. Only complete bars are returned. No bars for weekends, holidays or untraded
minutes: those stay gaps, never filled.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_SECOND, ns_to_iso
from tradeloop.data.download import missing_ranges
from tradeloop.data.sources.polygon_client import (
    PolygonClient,
    PolygonNotFound,
    RequestRateLimiter,
    Sleep,
)
from tradeloop.data.sources.polygon_settings import (
    PolygonSettings,
    PolygonTicker,
    load_settings,
    parse_ticker,
)
from tradeloop.data.store import DataStore
from tradeloop.data.timeframes import NANOS_PER_WEEK, Timeframe, parse_timeframe
from tradeloop.data.validation import TS_MISSING, TS_OK, RawBars, check_bars
from tradeloop.model.data import BarSeries, FloatArray, IntArray, TradeSeries

logger = logging.getLogger(__name__)

NS_PER_MS = 1_000_000
Progress = Callable[[int, int], None]

_SPANS = ((NANOS_PER_WEEK, "week"), (NANOS_PER_DAY, "day"), (NANOS_PER_HOUR, "hour"),
          (60 * NANOS_PER_SECOND, "minute"), (NANOS_PER_SECOND, "second"))
_BAR_KEYS = (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"))


def aggregate_span(timeframe: str | Timeframe) -> tuple[int, str]:
    """Polygon's ``multiplier`` and ``timespan`` for a bar length (``"5m"`` is ``(5,
    "minute")``).

    Raises
    ------
    ConfigError
        A length that is not a whole number of seconds.
    """
    frame = parse_timeframe(timeframe)
    for unit, name in _SPANS:
        if frame.ns % unit == 0:
            return frame.ns // unit, name
    raise ConfigError(f"polygon serves bars of whole seconds, not {frame.label}")


def bar_labels(t_ms: IntArray, ticker: PolygonTicker, timespan: str) -> IntArray:
    """Our bar times (UTC ns) for Polygon's aggregate times (ms): the same instant, except
    that daily and weekly bars of US-listed instruments, stamped at midnight New York time,
    are labelled midnight UTC of that New York date."""
    ns = np.asarray(t_ms, dtype=np.int64) * NS_PER_MS
    if timespan not in ("day", "week") or ns.shape[0] == 0:
        return ns
    if not ticker.trades_on_sessions:
        return ns - ns % NANOS_PER_DAY
    local = pd.DatetimeIndex(ns.view("M8[ns]"), tz="UTC").tz_convert("America/New_York")
    midnight = local.normalize().tz_localize(None).as_unit("ns")
    return np.asarray(midnight.asi8, dtype=np.int64)


def _floats(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[FloatArray, pd.Series | None]:
    values = np.full(len(rows), np.nan, dtype=np.float64)
    text: dict[int, str] = {}
    for i, row in enumerate(rows):
        value = row.get(key)
        if value is None:
            continue
        try:
            values[i] = float(value)
        except (TypeError, ValueError):
            text[i] = str(value)
    if not text:
        return values, None
    return values, pd.Series([text.get(i, "") for i in range(len(rows))], dtype=object)


def bars_from_results(rows: Sequence[Mapping[str, Any]], ticker: PolygonTicker,
                      symbol: str, frame: Timeframe, timespan: str, source: str, *,
                      repair: bool = False) -> BarSeries:
    """Polygon's aggregate results as a validated bar series.

    Parameters
    ----------
    rows : sequence of mapping
        ``{"t", "o", "h", "l", "c", "v", ...}`` in the order Polygon sent them.
    source : str
        Starts every error message; a bad bar is named by its position in the answer.
    repair : bool
        Drop bad bars instead of raising.

    Raises
    ------
    DataError
        ``"{source}: row {n}: {reason}"`` for the first bad bar, without ``repair``.
    """
    n = len(rows)
    if n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return BarSeries(symbol, np.zeros(0, dtype=np.int64), empty, empty.copy(),
                         empty.copy(), empty.copy(), empty.copy(), timeframe_ns=frame.ns,
                         source=source)
    status = np.zeros(n, dtype=np.int8)
    t_ms = np.zeros(n, dtype=np.int64)
    for i, row in enumerate(rows):
        value = row.get("t")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
                value):
            t_ms[i] = int(value)
        else:
            status[i] = TS_MISSING
    fields: dict[str, FloatArray] = {}
    texts: dict[str, pd.Series] = {}
    for name, key in _BAR_KEYS:
        fields[name], text = _floats(rows, key)
        if text is not None:
            texts[name] = text
    fields["volume"] = np.where(np.isnan(fields["volume"]) & ("volume" not in texts), 0.0,
                                fields["volume"])
    ts = bar_labels(t_ms, ticker, timespan)
    raw = RawBars(rows=np.arange(1, n + 1, dtype=np.int64), ts=ts, ts_status=status,
                  ts_text=pd.Series(["" if s != TS_OK else str(t) for s, t in
                                     zip(status.tolist(), t_ms.tolist(), strict=True)]),
                  fields=fields, field_text=texts)
    bars, report = check_bars(raw, symbol=symbol, source=source, repair=repair)
    if not report.clean:
        logger.warning("%s", report.summary())
    return dataclasses.replace(bars, timeframe_ns=frame.ns, source=source)


def trades_from_results(rows: Sequence[Mapping[str, Any]], ticker: PolygonTicker,
                        symbol: str, source: str, *, repair: bool = False) -> TradeSeries:
    """Polygon's trade results (``sip_timestamp`` or, for crypto, ``participant_timestamp``
    in ns, ``price``, ``size``) as a validated trade series in time order.

    Raises
    ------
    DataError
        ``"{source}: trade {n} (id ...): {reason}"`` for the first bad trade, without
        ``repair``.
    """
    n = len(rows)
    ts = np.zeros(n, dtype=np.int64)
    bad: list[str | None] = [None] * n
    for i, row in enumerate(rows):
        value = row.get("sip_timestamp", row.get("participant_timestamp"))
        if isinstance(value, int) and not isinstance(value, bool):
            ts[i] = value
        else:
            bad[i] = "timestamp is missing"
    price, _ = _floats(rows, "price")
    size, _ = _floats(rows, "size")
    for i in range(n):
        if bad[i] is not None:
            continue
        if not np.isfinite(price[i]) or not np.isfinite(size[i]):
            name = "price" if not np.isfinite(price[i]) else "size"
            bad[i] = f"{name} {rows[i].get(name)!r} is not a number"
        elif price[i] <= 0:
            bad[i] = f"price {float(price[i])!r} is not positive"
        elif size[i] < 0:
            bad[i] = f"size {float(size[i])!r} is negative"
    keep = np.array([reason is None for reason in bad], dtype=bool)
    order_ok = np.r_[True, ts[1:] >= ts[:-1]] if n else np.zeros(0, dtype=bool)
    if not repair:
        for i in range(n):
            reason = bad[i] or (None if order_ok[i] else
                                f"timestamp {ns_to_iso(int(ts[i]))} is before the previous "
                                "trade's")
            if reason is not None:
                ident = rows[i].get("id")
                named = f" (id {ident})" if ident is not None else ""
                raise DataError(f"{source}: trade {i + 1}{named}: {reason}")
    dropped = int(n - keep.sum())
    index = np.flatnonzero(keep)
    index = index[np.argsort(ts[index], kind="stable")]
    if dropped:
        logger.warning("%s: dropped %d of %d trades that failed validation", source, dropped, n)
    return TradeSeries(symbol, np.ascontiguousarray(ts[index]), np.ascontiguousarray(
        price[index]), np.ascontiguousarray(size[index]), source)


class PolygonHistory:
    """Polygon's historical bars and trades: a :class:`~tradeloop.data.download.HistorySource`.

    Parameters
    ----------
    settings : PolygonSettings
        With the key loaded (:func:`polygon_history` does that).
    transport, limiter, sleep
        Passed to :class:`~tradeloop.data.sources.polygon_client.PolygonClient` (tests).
    clock_ns : callable, optional
        Wall clock in UTC ns: bars that have not closed by then are left out.
    """

    def __init__(self, settings: PolygonSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 limiter: RequestRateLimiter | None = None, sleep: Sleep | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.client = PolygonClient(settings, transport=transport, limiter=limiter, **extra)
        self._clock_ns = clock_ns
        self._known: set[str] = set()

    def __repr__(self) -> str:
        return f"PolygonHistory(venue={self.venue!r}, base_url={self.settings.base_url!r})"

    @property
    def venue(self) -> str:
        """The store's venue name for what this source downloads (``POLYGON``)."""
        return self.settings.venue

    @property
    def chunk_bars(self) -> int:
        """Bars to fetch and store per download step (pass to ``download_bars``)."""
        return self.settings.chunk_bars

    @property
    def trades_chunk_ns(self) -> int:
        """Trade time to fetch and store per download step."""
        return max(1, int(self.settings.trades_chunk_hours * NANOS_PER_HOUR))

    async def connect(self) -> None:
        """Nothing to open: requests connect as they go (kept for the market data shape)."""

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()

    async def __aenter__(self) -> PolygonHistory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars opening in ``[start_ns, end_ns)``, oldest first, validated.

        Parameters
        ----------
        symbol : str
            A Polygon ticker (``AAPL``, ``O:SPY251219C00650000``, ``C:EURUSD``, ``X:BTCUSD``).
        timeframe : str
            ``"1m"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1w"``... (whole seconds).

        Raises
        ------
        ConfigError
            A malformed or unknown ticker, a refused key or plan, a bad bar length.
        DataError
            A bar that fails validation (without ``repair``).
        RetryableVenueError
            Polygon still unreachable or rate limiting after the retries.
        """
        ticker = parse_ticker(symbol)
        frame = parse_timeframe(timeframe)
        multiplier, timespan = aggregate_span(frame)
        source = (f"polygon {ticker.ticker} {frame.label} bars {ns_to_iso(start_ns)} to "
                  f"{ns_to_iso(end_ns)}")
        start_ms, end_ms = -(-start_ns // NS_PER_MS), -(-end_ns // NS_PER_MS)
        rows: list[dict[str, Any]] = []
        if end_ms > start_ms:
            path = (f"/v2/aggs/ticker/{quote(ticker.ticker, safe=':.-')}/range/{multiplier}/"
                    f"{timespan}/{start_ms}/{end_ms - 1}")
            params: dict[str, str | int] = {
                "adjusted": str(self.settings.adjusted).lower(), "sort": "asc",
                      "limit": self.settings.page_limit}
            async for page in self.client.pages(path, params, f"{frame.label} bars of "
                                                               f"{ticker.ticker}"):
                results = page.get("results") or []
                if not isinstance(results, list):
                    raise DataError(f"{source}: 'results' is not a list")
                rows += [r for r in results if isinstance(r, dict)]
        if not rows:
            await self._check_ticker(ticker)
        now = self._clock_ns()
        rows = [r for r in rows if not isinstance(r.get("t"), int | float)
                or int(r["t"]) * NS_PER_MS + frame.ns <= now]
        bars = bars_from_results(rows, ticker, symbol, frame, timespan, source,
                                 repair=self.settings.repair)
        inside = (bars.ts >= start_ns) & (bars.ts < end_ns)
        if not inside.all():
            bars = _take_bars(bars, np.flatnonzero(inside))
        logger.debug("%s: %d bars", source, len(bars))
        return bars

    async def historical_trades(self, symbol: str, start_ns: int, end_ns: int) -> TradeSeries:
        """Trades in ``[start_ns, end_ns)``, in time order, validated.

        Raises
        ------
        ConfigError
            A malformed ticker, a currency pair or index (Polygon has no trades for them), a
            refused key or plan.
        DataError
            A trade that fails validation (without ``repair``).
        RetryableVenueError
            Polygon still unreachable or rate limiting after the retries.
        """
        ticker = parse_ticker(symbol)
        if not ticker.has_trades:
            kind = "currency pairs" if ticker.asset_class == "fx" else "indices"
            raise ConfigError(f"polygon has no trades for {kind} ({ticker.ticker}); download "
                              "its bars instead")
        source = f"polygon {ticker.ticker} trades {ns_to_iso(start_ns)} to {ns_to_iso(end_ns)}"
        rows: list[dict[str, Any]] = []
        if end_ns > start_ns:
            path = f"/v3/trades/{quote(ticker.ticker, safe=':.-')}"
            params: dict[str, str | int] = {
                "timestamp.gte": start_ns, "timestamp.lt": end_ns, "order": "asc",
                      "sort": "timestamp", "limit": self.settings.page_limit}
            async for page in self.client.pages(path, params, f"trades of {ticker.ticker}"):
                results = page.get("results") or []
                if not isinstance(results, list):
                    raise DataError(f"{source}: 'results' is not a list")
                rows += [r for r in results if isinstance(r, dict)]
        trades = trades_from_results(rows, ticker, symbol, source, repair=self.settings.repair)
        inside = (trades.ts >= start_ns) & (trades.ts < end_ns)
        if not inside.all():
            keep = np.flatnonzero(inside)
            trades = TradeSeries(symbol, trades.ts[keep], trades.price[keep], trades.size[keep],
                                 source)
        logger.debug("%s: %d trades", source, len(trades))
        return trades

    async def _check_ticker(self, ticker: PolygonTicker) -> None:
        if (not self.settings.check_tickers or ticker.ticker in self._known
                or ticker.asset_class == "options"):
            return
        path = f"/v3/reference/tickers/{quote(ticker.ticker, safe=':.-')}"
        try:
            await self.client.get_json(path, {}, f"ticker {ticker.ticker}")
        except PolygonNotFound:
            raise ConfigError(f"polygon does not know the ticker {ticker.ticker!r}"
                              f"{_ticker_hint(ticker)}") from None
        self._known.add(ticker.ticker)


def _ticker_hint(ticker: PolygonTicker) -> str:
    if ticker.asset_class == "stocks" and len(ticker.ticker) == 6 and ticker.ticker.isalpha():
        return (f"; for a currency pair write 'C:{ticker.ticker}', for crypto "
                f"'X:{ticker.ticker}'")
    return ""


def _take_bars(bars: BarSeries, index: IntArray) -> BarSeries:
    return BarSeries(bars.symbol, bars.ts[index], bars.open[index], bars.high[index],
                     bars.low[index], bars.close[index], bars.volume[index],
                     timeframe_ns=bars.timeframe_ns, source=bars.source)


def polygon_history(settings: Mapping[str, Any], *, environ: Mapping[str, str] | None = None,
                    transport: httpx.AsyncBaseTransport | None = None,
                    limiter: RequestRateLimiter | None = None, sleep: Sleep | None = None
                    ) -> PolygonHistory:
    """A Polygon history source from a settings table (the key read from its variable).

    Parameters
    ----------
    settings : mapping
        See :class:`~tradeloop.data.sources.polygon_settings.PolygonSettings`; ``{}`` takes
        the key from ``POLYGON_API_KEY`` and keeps to the free tier's 5 requests a minute.
    environ : mapping, optional
        Where the key's variable is read (default: the process environment).
    transport, limiter, sleep
        For tests.

    Returns
    -------
    PolygonHistory
        Close it (``await source.close()`` or ``async with``).

    Raises
    ------
    ConfigError
        A wrong setting or a missing key.
    """
    return PolygonHistory(load_settings(settings, environ), transport=transport,
                          limiter=limiter, sleep=sleep)


class TradeSource(Protocol):
    """What a trades download needs of a source."""

    async def historical_trades(self, symbol: str, start_ns: int, end_ns: int) -> TradeSeries:
        """Trades in ``[start_ns, end_ns)``, in time order."""
        ...


@dataclass
class TradeDownloadResult:
    """What one trades download did.

    Attributes
    ----------
    venue, symbol : str
    start_ns, end_ns : int
        The range asked for.
    ranges : list of (int, int)
        The ranges that were fetched.
    fetched, added, unchanged : int
        Trades received, newly stored, and already stored.
    """

    venue: str
    symbol: str
    start_ns: int
    end_ns: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    fetched: int = 0
    added: int = 0
    unchanged: int = 0

    @property
    def up_to_date(self) -> bool:
        """True when the store already held the whole range."""
        return not self.ranges


def stored_trades_range(store: DataStore, symbol: str, venue: str) -> tuple[int, int] | None:
    """First and last stored trade time of a symbol (None when none is stored)."""
    for entry in store.catalog():
        if (entry.kind == "trades" and entry.venue == venue and entry.symbol == symbol
                and entry.rows > 0):
            return entry.first_ts, entry.last_ts
    return None


async def download_trades(source: TradeSource, store: DataStore, symbol: str, start_ns: int,
                          end_ns: int, *, venue: str, chunk_ns: int = NANOS_PER_DAY,
                          progress: Progress | None = None) -> TradeDownloadResult:
    """Fetch the trades of ``[start_ns, end_ns)`` the store lacks and store them, one chunk at
    a time, oldest first; a rerun continues after the last stored trade.

    Parameters
    ----------
    source : TradeSource
        A :class:`PolygonHistory`.
    store : DataStore
    symbol : str
    start_ns, end_ns : int
        UTC nanoseconds; ``end_ns`` is exclusive.
    venue : str
        The store's venue for the dataset.
    chunk_ns : int
        Trade time fetched and written per step.
    progress : callable, optional
        Called with (ns covered, ns to cover) after each chunk.

    Raises
    ------
    ConfigError
        An empty range, or what the source raises.

    Notes
    -----
    The chunk holding the last stored trade is fetched again from that trade's time on: the
    store keeps exact duplicates once, so trades sharing that timestamp are neither lost nor
    doubled.
    """
    if end_ns <= start_ns:
        raise ConfigError("the download range is empty: --to must be after --from")
    result = TradeDownloadResult(venue, symbol, start_ns, end_ns)
    result.ranges = missing_ranges(start_ns, end_ns, stored_trades_range(store, symbol, venue),
                                   0)
    total = sum(b - a for a, b in result.ranges)
    done = 0
    step = max(1, chunk_ns)
    for first, last in result.ranges:
        cursor = first
        while cursor < last:
            upper = min(cursor + step, last)
            trades = await source.historical_trades(symbol, cursor, upper)
            if len(trades):
                written = store.write_ticks(trades, venue=venue)
                result.fetched += len(trades)
                result.added += written.rows_added
                result.unchanged += written.rows_unchanged
            done += upper - cursor
            cursor = upper
            if progress is not None:
                progress(done, total)
    logger.info("trades downloaded", extra={"fields": {
        "venue": venue, "symbol": symbol, "fetched": result.fetched, "added": result.added,
        "ranges": len(result.ranges)}})
    return result


__all__ = [
    "PolygonHistory",
    "TradeDownloadResult",
    "TradeSource",
    "aggregate_span",
    "bar_labels",
    "bars_from_results",
    "download_trades",
    "polygon_history",
    "stored_trades_range",
    "trades_from_results",
]
