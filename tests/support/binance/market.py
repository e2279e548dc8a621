"""Symbols, their filters, the current bid/ask of each, and kline history consistent with it.

Prices are shared by the spot and the USD-M market of a symbol (``BTCUSDT`` is one price).
History before the server started (the *anchor*) is a seeded random walk generated backwards
from the opening price, minute by minute, so it always ends exactly where the live price
starts; from the anchor on, candles are built from what happened on the server (prices set or
stepped, and fills). Longer intervals aggregate the one-minute candles.
"""

from __future__ import annotations

import calendar
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import numpy as np
import numpy.typing as npt

from .errors import invalid_interval

MS_PER_MINUTE = 60_000
MINUTES_PER_CHUNK = 1440
FloatArray = npt.NDArray[np.float64]
Clock = Callable[[], int]

_INTERVAL_MINUTES = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
}
_MONDAY_OFFSET_MS = 4 * 1440 * MS_PER_MINUTE  # 1970-01-05 (a Monday) minus the epoch


@dataclass(frozen=True)
class Filters:
    """The trading rules of a symbol on one market (Binance's symbol filters).

    Attributes
    ----------
    tick : Decimal
        PRICE_FILTER tickSize.
    min_price, max_price : Decimal
        PRICE_FILTER bounds.
    step : Decimal
        LOT_SIZE stepSize.
    min_qty, max_qty : Decimal
        LOT_SIZE bounds.
    market_max_qty : Decimal
        MARKET_LOT_SIZE maxQty (its minQty and stepSize are LOT_SIZE's).
    min_notional : Decimal
        NOTIONAL minNotional (spot) or MIN_NOTIONAL notional (futures).
    """

    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class SymbolSpec:
    """One tradable symbol with its opening quote and the character of its generated history.

    Attributes
    ----------
    symbol, base, quote : str
        ``BTCUSDT``, ``BTC``, ``USDT``.
    spot, futures : Filters
        The rules on each market.
    bid, ask : Decimal
        The opening quote.
    volatility : float
        Standard deviation of the one-minute log return of the generated history.
    minute_volume : float
        Typical base volume of a one-minute candle.
    """

    symbol: str
    base: str
    quote: str
    spot: Filters
    futures: Filters
    bid: Decimal
    ask: Decimal
    volatility: float
    minute_volume: float

    @property
    def walk_tick(self) -> Decimal:
        """The price grid of the seeded walk (the coarser of the two markets' ticks)."""
        return max(self.spot.tick, self.futures.tick)


def _filters(tick: str, min_price: str, max_price: str, step: str, min_qty: str, max_qty: str,
             market_max_qty: str, min_notional: str) -> Filters:
    return Filters(Decimal(tick), Decimal(min_price), Decimal(max_price), Decimal(step),
                   Decimal(min_qty), Decimal(max_qty), Decimal(market_max_qty),
                   Decimal(min_notional))


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "BTC", "USDT",
               _filters("0.01", "0.01", "1000000", "0.00001", "0.00001", "9000", "100", "5"),
               _filters("0.10", "556.80", "4529764", "0.001", "0.001", "1000", "120", "100"),
               Decimal("65000.00"), Decimal("65000.10"), 0.0008, 15.0),
    SymbolSpec("ETHUSDT", "ETH", "USDT",
               _filters("0.01", "0.01", "1000000", "0.0001", "0.0001", "9000", "1000", "5"),
               _filters("0.01", "39.86", "306177", "0.001", "0.001", "10000", "2000", "20"),
               Decimal("3500.00"), Decimal("3500.01"), 0.001, 200.0),
    SymbolSpec("SOLUSDT", "SOL", "USDT",
               _filters("0.01", "0.01", "10000", "0.001", "0.001", "9000000", "50000", "5"),
               _filters("0.01", "0.42", "6857", "1", "1", "1000000", "5000", "5"),
               Decimal("150.00"), Decimal("150.01"), 0.0012, 3000.0),
)


def decimals(step: Decimal) -> int:
    """How many decimal places a tick or step size has (``0.001`` -> 3, ``1`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def fmt(value: Decimal | float, places: int) -> str:
    """``value`` with exactly ``places`` decimals, as Binance prints numbers."""
    return f"{Decimal(str(value)).quantize(Decimal(1).scaleb(-places)):f}"


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def interval_open(interval: str, ts_ms: int) -> int:
    """Open time of the ``interval`` candle holding ``ts_ms`` (Binance's UTC alignment).

    Raises
    ------
    BinanceError
        -1120 for an interval Binance does not have (or that is finer than a minute).
    """
    if interval == "1M":
        moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        return calendar.timegm((moment.year, moment.month, 1, 0, 0, 0)) * 1000
    minutes = _INTERVAL_MINUTES.get(interval)
    if minutes is None:
        raise invalid_interval()
    size = minutes * MS_PER_MINUTE
    origin = _MONDAY_OFFSET_MS if interval == "1w" else 0
    return (ts_ms - origin) // size * size + origin


def interval_next(interval: str, open_ms: int) -> int:
    """Open time of the candle after the one opening at ``open_ms``."""
    if interval == "1M":
        moment = datetime.fromtimestamp(open_ms / 1000, tz=UTC)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year,
                                                                         moment.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
    return open_ms + _INTERVAL_MINUTES[interval] * MS_PER_MINUTE


@dataclass
class _Chunk:
    steps: FloatArray
    high_noise: FloatArray
    low_noise: FloatArray
    volume_noise: FloatArray
    start_sum: float


class History:
    """The one-minute candles of a symbol: generated before the anchor, recorded after it.

    Parameters
    ----------
    spec : SymbolSpec
    seed : int
    anchor_ms : int
        When the server (re)started; the minute holding it opens at the opening mid price.
    history_days : int
        How far back the generated history goes (earlier requests get nothing, as before a
        listing).
    """

    def __init__(self, spec: SymbolSpec, seed: int, anchor_ms: int, history_days: int) -> None:
        self.spec = spec
        self.anchor_minute = anchor_ms // MS_PER_MINUTE
        self.listing_ms = (self.anchor_minute - history_days * 1440) * MS_PER_MINUTE
        self.open_price = float((spec.bid + spec.ask) / 2)
        self._seed = (seed, zlib.crc32(spec.symbol.encode()))
        self._chunks: list[_Chunk] = []
        self._events: list[tuple[int, float, float]] = []  # (ms, price, base volume)

    def record(self, ts_ms: int, price: float, volume: float = 0.0) -> None:
        """Add a price (volume 0) or a trade to the recorded part."""
        self._events.append((ts_ms, price, volume))

    def minutes(self, first: int, end: int) -> tuple[FloatArray, ...]:
        """Open, high, low, close, volume and quote volume of minutes ``[first, end)``."""
        parts = []
        if first < self.anchor_minute:
            parts.append(self._generated(first, min(end, self.anchor_minute)))
        if end > self.anchor_minute:
            parts.append(self._recorded(max(first, self.anchor_minute), end))
        if not parts:
            return tuple(np.empty(0) for _ in range(6))
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _chunk(self, index: int) -> _Chunk:
        while len(self._chunks) <= index:
            number = len(self._chunks)
            rng = np.random.default_rng([*self._seed, number])
            previous = self._chunks[-1] if self._chunks else None
            start = 0.0 if previous is None else previous.start_sum + float(previous.steps.sum())
            self._chunks.append(_Chunk(
                rng.standard_normal(MINUTES_PER_CHUNK) * self.spec.volatility,
                np.abs(rng.standard_normal(MINUTES_PER_CHUNK)),
                np.abs(rng.standard_normal(MINUTES_PER_CHUNK)),
                rng.standard_normal(MINUTES_PER_CHUNK), start))
        return self._chunks[index]

    def _generated(self, first: int, end: int) -> tuple[FloatArray, ...]:
        # minute m lies k = anchor - m minutes back; its open is P0 * exp(-S(k)), its close
        # P0 * exp(-S(k - 1)), S(k) being the sum of the first k steps.
        k_low, k_high = self.anchor_minute - end + 1, self.anchor_minute - first
        columns: list[list[FloatArray]] = [[], [], [], [], []]
        for index in range((k_low - 1) // MINUTES_PER_CHUNK,
                           (k_high - 1) // MINUTES_PER_CHUNK + 1):
            chunk = self._chunk(index)
            base = index * MINUTES_PER_CHUNK + 1
            lo, hi = max(k_low, base) - base, min(k_high, base + MINUTES_PER_CHUNK - 1) - base
            sums = chunk.start_sum + np.cumsum(chunk.steps)
            before = np.concatenate(([chunk.start_sum], sums[:-1]))
            for column, values in zip(columns, (sums, before, chunk.high_noise,
                                                chunk.low_noise, chunk.volume_noise),
                                      strict=True):
                column.append(values[lo:hi + 1])
        s_open, s_close, high_noise, low_noise, volume_noise = (
            np.concatenate(c)[::-1] for c in columns)  # oldest minute first
        opens = self.open_price * np.exp(-s_open)
        closes = self.open_price * np.exp(-s_close)
        wick = self.spec.volatility / 2
        highs = np.maximum(opens, closes) * np.exp(high_noise * wick)
        lows = np.minimum(opens, closes) * np.exp(-low_noise * wick)
        volumes = self.spec.minute_volume * np.exp(0.5 * volume_noise)
        return opens, highs, lows, closes, volumes, volumes * (opens + closes) / 2

    def _recorded(self, first: int, end: int) -> tuple[FloatArray, ...]:
        count = end - first
        opens, highs, lows, closes, volumes, quote = (np.zeros(count) for _ in range(6))
        last = self.open_price
        position = 0
        for minute in range(self.anchor_minute, end):
            high = low = close = last
            volume = turnover = 0.0
            while position < len(self._events) and \
                    self._events[position][0] // MS_PER_MINUTE <= minute:
                _, price, size = self._events[position]
                high, low, close = max(high, price), min(low, price), price
                volume += size
                turnover += size * price
                position += 1
            if minute >= first:
                i = minute - first
                opens[i], highs[i], lows[i], closes[i] = last, high, low, close
                volumes[i], quote[i] = volume, turnover
            last = close
        return opens, highs, lows, closes, volumes, quote


@dataclass
class Quote:
    """The current top of book of one symbol."""

    bid: Decimal
    ask: Decimal
    history: History
    rng: np.random.Generator = field(repr=False)

    @property
    def mid(self) -> Decimal:
        """Halfway between bid and ask: the symbol's last and mark price here."""
        return (self.bid + self.ask) / 2


class Market:
    """All symbols' quotes and histories.

    Parameters
    ----------
    specs : sequence of SymbolSpec
    clock : callable
        The server's time in ms.
    seed : int
        Seeds the generated history and the explicit random walk.
    history_days : int
    """

    def __init__(self, specs: tuple[SymbolSpec, ...], clock: Clock, seed: int,
                 history_days: int) -> None:
        self.specs = {spec.symbol: spec for spec in specs}
        self.clock = clock
        anchor = clock()
        self.quotes = {
            spec.symbol: Quote(spec.bid, spec.ask, History(spec, seed, anchor, history_days),
                               np.random.default_rng([seed, zlib.crc32(spec.symbol.encode()), 1]))
            for spec in specs}

    def quote(self, symbol: str) -> Quote:
        """The quote of a known symbol (KeyError otherwise)."""
        return self.quotes[symbol]

    def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Move the top of book (bid must be below ask)."""
        if bid <= 0 or ask <= bid:
            raise ValueError(f"{symbol}: need 0 < bid < ask, got {bid} / {ask}")
        quote = self.quotes[symbol]
        quote.bid, quote.ask = bid, ask
        quote.history.record(self.clock(), float(quote.mid))

    def step(self, symbol: str) -> None:
        """Move ``symbol`` one step along its seeded random walk (spread kept)."""
        spec, quote = self.specs[symbol], self.quotes[symbol]
        spread = quote.ask - quote.bid
        mid = float(quote.mid) * math.exp(spec.volatility * float(quote.rng.standard_normal()))
        bid = max(round_down(Decimal(str(mid)), spec.walk_tick), spec.walk_tick)
        self.set_price(symbol, bid, bid + spread)

    def record_trade(self, symbol: str, price: Decimal, qty: Decimal) -> None:
        """Let a fill show in the candles (it does not move the quote)."""
        self.quotes[symbol].history.record(self.clock(), float(price), float(qty))

    def klines(self, symbol: str, interval: str, start: int | None, end: int | None,
               limit: int) -> list[tuple[int, int, tuple[float, ...]]]:
        """Candles as (open ms, close ms, (open, high, low, close, volume, quote volume)).

        ``start``/``end`` select open times in ``[start, end]`` like Binance: with ``start``,
        the first ``limit`` candles from it; otherwise the last ``limit`` up to ``end`` (or
        now). Nothing before the generated history begins, nothing after the current candle.
        """
        history = self.quotes[symbol].history
        now = self.clock()
        last_open = interval_open(interval, now)
        first_open = interval_open(interval, history.listing_ms)
        if first_open < history.listing_ms:
            first_open = interval_next(interval, first_open)
        opens: list[int] = []
        if start is not None:
            candle = interval_open(interval, max(start, first_open))
            if candle < start:
                candle = interval_next(interval, candle)
            stop = last_open if end is None else min(end, last_open)
            while candle <= stop and len(opens) < limit:
                opens.append(candle)
                candle = interval_next(interval, candle)
        else:
            candle = last_open if end is None else min(interval_open(interval, end), last_open)
            while candle >= first_open and len(opens) < limit:
                opens.append(candle)
                candle = interval_open(interval, candle - 1)
            opens.reverse()
        if not opens:
            return []
        closes = [interval_next(interval, o) for o in opens]
        first_minute = opens[0] // MS_PER_MINUTE
        end_minute = min(closes[-1], now + MS_PER_MINUTE) // MS_PER_MINUTE
        o, h, lo, c, v, q = history.minutes(first_minute, end_minute)
        rows: list[tuple[int, int, tuple[float, ...]]] = []
        for open_ms, close_ms in zip(opens, closes, strict=True):
            a = open_ms // MS_PER_MINUTE - first_minute
            b = min(close_ms // MS_PER_MINUTE, end_minute) - first_minute
            rows.append((open_ms, close_ms - 1, (float(o[a]), float(h[a:b].max()),
                                                 float(lo[a:b].min()), float(c[b - 1]),
                                                 float(v[a:b].sum()), float(q[a:b].sum()))))
        return rows

    def day_stats(self, symbol: str) -> tuple[int, tuple[float, ...]]:
        """Open time and (open, high, low, close, volume, quote volume) of the last 24 h."""
        now = self.clock()
        end_minute = now // MS_PER_MINUTE + 1
        o, h, lo, _, v, q = self.quotes[symbol].history.minutes(end_minute - 1440, end_minute)
        close = float(self.quotes[symbol].mid)
        return now - 86_400_000, (float(o[0]), max(float(h.max()), close),
                                  min(float(lo.min()), close), close, float(v.sum()),
                                  float(q.sum()))

    def depth(self, symbol: str, levels: int, tick: Decimal,
              step: Decimal) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """A simple book: ``levels`` bids and asks one tick apart from the top of book."""
        quote, spec = self.quotes[symbol], self.specs[symbol]
        size = max(round_down(Decimal(str(spec.minute_volume / 10)), step), step)
        bids = [(quote.bid - i * tick, size * (1 + i % 4)) for i in range(levels)
                if quote.bid - i * tick > 0]
        asks = [(quote.ask + i * tick, size * (1 + i % 4)) for i in range(levels)]
        return bids, asks

    def top_size(self, symbol: str, step: Decimal) -> Decimal:
        """The quantity shown at the best bid and ask."""
        spec = self.specs[symbol]
        return max(round_down(Decimal(str(spec.minute_volume / 10)), step), step)
