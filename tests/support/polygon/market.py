"""The stand-in's market: listed tickers, their trading sessions and deterministic prices.

Nothing is stored: a bar or a trade is a pure function of the ticker and its time, so any range
can be asked for in any order and always gives the same answer. Sessions follow the venues the
tickers trade on:

- stocks: weekdays that are not NYSE holidays, 04:00-20:00 New York time, with every
  regular-session minute (09:30-16:00) traded and about a third of the extended-hours minutes;
- options: regular session only, about 60% of the minutes traded, nothing after expiry;
- FX (``C:``): Sunday 17:00 to Friday 17:00 New York time, every minute;
- crypto (``X:``): every minute.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
NS_PER_MS = 1_000_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: NYSE full-day closures 2023-2026 (the stand-in's holiday calendar).
NYSE_HOLIDAYS = frozenset(date.fromisoformat(d) for d in (
    "2023-01-02", "2023-01-16", "2023-02-20", "2023-04-07", "2023-05-29", "2023-06-19",
    "2023-07-04", "2023-09-04", "2023-11-23", "2023-12-25",
    "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
    "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
    "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
    "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
    "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
))


@dataclass(frozen=True)
class Listing:
    """One ticker the stand-in knows.

    Attributes
    ----------
    ticker : str
        Polygon's spelling: ``AAPL``, ``O:SPY251219C00650000``, ``C:EURUSD``, ``X:BTCUSD``.
    market : {"stocks", "options", "fx", "crypto"}
    base_price : float
    name : str
    expires : date or None
        Options: the expiration day (no data after its close).
    """

    ticker: str
    market: str
    base_price: float
    name: str
    expires: date | None = None

    @property
    def seed(self) -> int:
        """A per-ticker seed for the price and trade functions."""
        return zlib.crc32(self.ticker.encode())


DEFAULT_LISTINGS: tuple[Listing, ...] = (
    Listing("AAPL", "stocks", 190.0, "Apple Inc."),
    Listing("SPY", "stocks", 480.0, "SPDR S&P 500 ETF Trust"),
    Listing("BRK.B", "stocks", 360.0, "Berkshire Hathaway Inc. Class B"),
    Listing("O:SPY251219C00650000", "options", 6.0, "SPY Dec 19 2025 650 Call",
            date(2025, 12, 19)),
    Listing("C:EURUSD", "fx", 1.08, "Euro - United States Dollar"),
    Listing("X:BTCUSD", "crypto", 60_000.0, "Bitcoin - United States Dollar"),
    Listing("X:ETHUSD", "crypto", 3_000.0, "Ethereum - United States Dollar"),
)


@dataclass
class Split:
    """A stock split: before ``at_ms`` unadjusted prices are ``ratio`` times the adjusted ones."""

    at_ms: int
    ratio: float


@dataclass
class Market:
    """The listings, their splits, halts and bar overrides (the steering state)."""

    listings: dict[str, Listing] = field(
        default_factory=lambda: {item.ticker: item for item in DEFAULT_LISTINGS})
    splits: dict[str, Split] = field(default_factory=dict)
    halts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    overrides: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)

    def listing(self, ticker: str) -> Listing | None:
        """The listing of ``ticker``, None when unknown."""
        return self.listings.get(ticker)


def _uniform(values: IntArray, seed: int, salt: int) -> FloatArray:
    """A deterministic pseudo-random number in [0, 1) per value (a multiplicative hash)."""
    mixed = (values.astype(np.uint64) * np.uint64(2654435761) + np.uint64(seed)
             + np.uint64(salt) * np.uint64(40503)) & np.uint64(0xFFFFFFFF)
    mixed = (mixed ^ (mixed >> np.uint64(15))) * np.uint64(2246822519) & np.uint64(0xFFFFFFFF)
    mixed ^= mixed >> np.uint64(13)
    return (mixed & np.uint64(0xFFFFFFFF)).astype(np.float64) / 4294967296.0


def price_at(listing: Listing, t_ms: IntArray) -> FloatArray:
    """The adjusted price at each time (a smooth wave plus minute-level noise)."""
    t = t_ms.astype(np.float64) / 1000.0
    phase = (listing.seed % 1000) / 1000.0 * 2 * np.pi
    minute = t_ms // MS_PER_MINUTE
    noise = _uniform(minute, listing.seed, 1) - 0.5
    wave = 0.03 * np.sin(2 * np.pi * t / (9 * 86_400.0) + phase)
    wave += 0.006 * np.sin(2 * np.pi * t / 5_400.0 + 2 * phase)
    return np.asarray(listing.base_price * np.exp(wave + 0.0008 * noise), dtype=np.float64)


def _local_dates(start_ms: int, end_ms: int) -> list[date]:
    first = datetime.fromtimestamp(start_ms / 1000, NEW_YORK).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_ms / 1000, NEW_YORK).date() + timedelta(days=1)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _local_ms(day: date, hour: int, minute: int) -> int:
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)
    return int(moment.timestamp() * 1000)


def session_slots(listing: Listing, start_ms: int, end_ms: int, step_ms: int) -> IntArray:
    """Start times (ms) of the traded ``step_ms`` slots in ``[start_ms, end_ms)``.

    ``step_ms`` divides 30 minutes (seconds, minutes) or is 30 minutes.
    """
    if end_ms <= start_ms:
        return np.zeros(0, dtype=np.int64)
    lo = start_ms // step_ms * step_ms
    if listing.market == "crypto":
        slots = np.arange(lo, end_ms, step_ms, dtype=np.int64)
    else:
        spans: list[tuple[int, int]] = []
        for day in _local_dates(start_ms, end_ms):
            if listing.market == "fx":
                if day.weekday() in (4, 5):  # Friday 17:00 to Sunday 17:00 is closed
                    if day.weekday() == 4:
                        spans.append((_local_ms(day, 0, 0), _local_ms(day, 17, 0)))
                    continue
                if day.weekday() == 6:
                    spans.append((_local_ms(day, 17, 0), _local_ms(day + timedelta(days=1),
                                                                   0, 0)))
                    continue
                spans.append((_local_ms(day, 0, 0), _local_ms(day + timedelta(days=1), 0, 0)))
                continue
            if day.weekday() >= 5 or day in NYSE_HOLIDAYS:
                continue
            if listing.expires is not None and day > listing.expires:
                continue
            if listing.market == "stocks":
                spans.append((_local_ms(day, 4, 0), _local_ms(day, 20, 0)))
            else:
                spans.append((_local_ms(day, 9, 30), _local_ms(day, 16, 0)))
        parts = [np.arange(max(a, lo), min(b, end_ms), step_ms, dtype=np.int64)
                 for a, b in spans if min(b, end_ms) > max(a, lo)]
        slots = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    slots = slots[(slots >= lo) & (slots < end_ms)]
    minute = slots // MS_PER_MINUTE
    if listing.market == "stocks" and step_ms <= MS_PER_MINUTE:
        local = _minutes_of_day(slots)
        regular = (local >= 9 * 60 + 30) & (local < 16 * 60)
        slots = slots[regular | (_uniform(minute, listing.seed, 2) < 0.35)]
    elif listing.market == "options" and step_ms <= MS_PER_MINUTE:
        slots = slots[_uniform(minute, listing.seed, 3) < 0.6]
    return slots


def _minutes_of_day(slots_ms: IntArray) -> IntArray:
    local = pd.DatetimeIndex(slots_ms.astype("M8[ms]"), tz="UTC").tz_convert(NEW_YORK.key)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)


@dataclass(frozen=True)
class BaseBars:
    """Bars of the base resolution, as columns (times in ms)."""

    t: IntArray
    o: FloatArray
    h: FloatArray
    low: FloatArray
    c: FloatArray
    v: FloatArray
    n: IntArray


def base_bars(market: Market, listing: Listing, start_ms: int, end_ms: int, step_ms: int,
              adjusted: bool) -> BaseBars:
    """The traded base bars of ``listing`` starting in ``[start_ms, end_ms)``."""
    t = session_slots(listing, start_ms, end_ms, step_ms)
    for lo, hi in market.halts.get(listing.ticker, []):
        t = t[(t < lo) | (t >= hi)]
    o = price_at(listing, t)
    c = price_at(listing, t + step_ms - 1)
    wiggle = 0.0006 * np.sqrt(step_ms / MS_PER_MINUTE)
    h = np.maximum(o, c) * (1 + wiggle * _uniform(t // 1000, listing.seed, 4))
    low = np.minimum(o, c) * (1 - wiggle * _uniform(t // 1000, listing.seed, 5))
    scale = step_ms / MS_PER_MINUTE
    if listing.market == "crypto":
        v = np.round(0.05 + 3.0 * _uniform(t // 1000, listing.seed, 6), 6) * scale
    elif listing.market == "options":
        v = np.floor(1 + 40 * _uniform(t // 1000, listing.seed, 6)) * scale
    else:
        v = np.floor(100 + 5000 * _uniform(t // 1000, listing.seed, 6)) * scale
    n = np.maximum(1, (v // 50).astype(np.int64)) if listing.market != "crypto" else (
        np.ones_like(t) * int(3 * scale))
    split = market.splits.get(listing.ticker)
    if split is not None and not adjusted:
        before = t < split.at_ms
        for column in (o, h, low, c):
            column[before] *= split.ratio
        v = np.where(before, v / split.ratio, v)
    return BaseBars(t, o, h, low, c, v, n)


def bucket_starts(listing: Listing, t_ms: IntArray, multiplier: int, timespan: str) -> IntArray:
    """The aggregate window each base bar falls in, labelled as Polygon labels it (ms):
    epoch-aligned for second/minute/hour; the day's midnight in New York (stocks, options) or
    UTC (FX, crypto) for day; the Sunday before for week."""
    unit = {"second": 1000, "minute": MS_PER_MINUTE, "hour": 3_600_000}.get(timespan)
    if unit is not None:
        size = unit * multiplier
        return t_ms // size * size
    zone = NEW_YORK.key if listing.market in ("stocks", "options") else "UTC"
    if t_ms.shape[0] == 0:
        return t_ms
    local = pd.DatetimeIndex(t_ms.astype("M8[ms]"), tz="UTC").tz_convert(zone)
    days = local.normalize().tz_localize(None).to_numpy().astype("M8[D]").astype(np.int64)
    if timespan == "week":
        days = days - (days + 4) % 7  # back to Sunday (1970-01-04 was one)
        days = (days - 3) // (7 * multiplier) * (7 * multiplier) + 3
    elif multiplier > 1:
        days = days // multiplier * multiplier
    midnights = pd.DatetimeIndex(days.astype("M8[D]")).tz_localize(
        zone, ambiguous="NaT", nonexistent="shift_forward")
    return np.asarray(midnights.as_unit("ms").asi8, dtype=np.int64)


@dataclass(frozen=True)
class TradeRows:
    """Trades as columns: times in ns (participant and SIP), prices, sizes, ids."""

    participant: IntArray
    sip: IntArray
    price: FloatArray
    size: FloatArray
    sequence: IntArray


def trades(market: Market, listing: Listing, start_ns: int, end_ns: int) -> TradeRows:
    """The trades of ``listing`` whose timestamp is in ``[start_ns, end_ns)``, in time order.

    The timestamp is the SIP time for stocks and options and the exchange's (participant)
    time for crypto.
    """
    start_ms = start_ns // NS_PER_MS
    end_ms = -(-end_ns // NS_PER_MS)
    minutes = session_slots(listing, start_ms - MS_PER_MINUTE, end_ms + MS_PER_MINUTE,
                            MS_PER_MINUTE)
    for lo, hi in market.halts.get(listing.ticker, []):
        minutes = minutes[(minutes < lo) | (minutes >= hi)]
    per_minute = 1 + np.floor(4 * _uniform(minutes // MS_PER_MINUTE, listing.seed, 7)).astype(
        np.int64)
    slots = np.repeat(minutes, per_minute)
    rank = np.arange(slots.shape[0]) - np.repeat(np.cumsum(per_minute) - per_minute, per_minute)
    key = slots // 1000 * 8 + rank
    offset_ns = ((rank * 15_000_000_000) + np.floor(
        14_000_000_000 * _uniform(key, listing.seed, 8))).astype(np.int64)
    participant = slots * NS_PER_MS + offset_ns
    sip = participant + np.floor(900_000 * _uniform(key, listing.seed, 9)).astype(np.int64)
    moment = sip if listing.market != "crypto" else participant
    price = price_at(listing, participant // NS_PER_MS) * (
        1 + 0.0002 * (_uniform(key, listing.seed, 10) - 0.5))
    price = np.round(price, 2 if listing.market in ("stocks", "options") else 6)
    if listing.market == "crypto":
        size = np.round(0.0001 + 0.5 * _uniform(key, listing.seed, 11), 8)
    elif listing.market == "options":
        size = np.floor(1 + 20 * _uniform(key, listing.seed, 11))
    else:
        size = np.floor(1 + 400 * _uniform(key, listing.seed, 11))
    order = np.argsort(moment, kind="stable")
    keep = order[(moment[order] >= start_ns) & (moment[order] < end_ns)]
    sequence = (slots // MS_PER_MINUTE) * 8 + rank
    return TradeRows(participant[keep], sip[keep], price[keep], size[keep], sequence[keep])


__all__ = [
    "DEFAULT_LISTINGS",
    "NYSE_HOLIDAYS",
    "BaseBars",
    "Listing",
    "Market",
    "Split",
    "TradeRows",
    "base_bars",
    "bucket_starts",
    "price_at",
    "session_slots",
    "trades",
]
