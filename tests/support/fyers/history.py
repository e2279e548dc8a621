"""Candles of the local Fyers (``GET /data/history``): a seeded random walk of one-minute
candles during NSE's session (09:15 to 15:30 IST, Monday to Friday), aggregated for longer
resolutions, with Fyers' range limits per request.

Limits as Fyers documents them: up to 100 days per request for minute resolutions, 366 days
for daily candles, and second candles only for the last 30 trading days. A candle's time is its
open in epoch seconds; a daily candle is stamped at midnight UTC of its date.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from .errors import invalid
from .symbols import SymbolSpec

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = dt.time(9, 15)
SESSION_MINUTES = 375
_DAY_S = 86_400
MINUTE_RESOLUTIONS = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 120, 180, 240)
SECOND_RESOLUTIONS = (5, 10, 15, 30, 45)
#: Longest span of one request, in days, per kind of resolution.
MAX_DAYS = {"S": 30, "M": 100, "D": 366}
Candle = tuple[int, float, float, float, float, int]


def resolution_seconds(resolution: str) -> tuple[str, int]:
    """``("S"|"M"|"D", seconds)`` of a Fyers resolution (``"5S"``, ``"15"``, ``"D"``).

    Raises
    ------
    FyersError
        -50 for anything else.
    """
    text = resolution.strip().upper()
    if text in ("D", "1D"):
        return "D", _DAY_S
    if text.endswith("S") and text[:-1].isdigit() and int(text[:-1]) in SECOND_RESOLUTIONS:
        return "S", int(text[:-1])
    if text.isdigit() and int(text) in MINUTE_RESOLUTIONS:
        return "M", int(text) * 60
    raise invalid(f"Invalid resolution {resolution!r}")


class History:
    """Candles of the listed symbols.

    Parameters
    ----------
    seed : int
    now : callable
        The server's clock in seconds (no candle opens after it).
    """

    def __init__(self, seed: int, now: Callable[[], float]) -> None:
        self.seed = seed
        self.now = now
        #: (symbol, resolution, range_from, range_to) of every request answered.
        self.requests: list[tuple[str, str, int, int]] = []

    def candles(self, spec: SymbolSpec, resolution: str, date_format: str, range_from: str,
                range_to: str) -> list[Candle]:
        """The candles of ``[range_from, range_to]`` (both ends included).

        Raises
        ------
        FyersError
            -50: a bad resolution, bad dates, or a range longer than Fyers allows.
        """
        kind, seconds = resolution_seconds(resolution)
        start, end = _bounds(date_format, range_from, range_to)
        if end < start:
            raise invalid("range_to is before range_from")
        if end - start > MAX_DAYS[kind] * _DAY_S:
            raise invalid(f"The range cannot exceed {MAX_DAYS[kind]} days for resolution "
                          f"{resolution}")
        now = int(self.now())
        if kind == "S" and start < now - 45 * _DAY_S:
            raise invalid("Second candles are available for the last 30 trading days only")
        self.requests.append((spec.ticker, resolution, start, end))
        out: list[Candle] = []
        day = dt.datetime.fromtimestamp(start, IST).date()
        last = dt.datetime.fromtimestamp(min(end, now), IST).date()
        while day <= last:
            if day.weekday() < 5:
                out += self._day(spec, day, kind, seconds, start, min(end, now))
            day += dt.timedelta(days=1)
        return out

    def _day(self, spec: SymbolSpec, day: dt.date, kind: str, seconds: int, start: int,
             end: int) -> list[Candle]:
        minutes = _minutes(self.seed, spec.ticker, day, str(spec.price), str(spec.tick))
        if kind == "D":
            stamp = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
            if not start <= stamp <= end or minutes[0][0] > end:
                return []
            seen = [m for m in minutes if m[0] <= end]
            return [_merge(stamp, seen)]
        if kind == "S":
            return [c for c in _seconds(minutes, seconds) if start <= c[0] <= end]
        step = seconds // 60
        out = []
        for k in range(0, len(minutes), step):
            group = [m for m in minutes[k:k + step] if m[0] <= end]
            if group and start <= group[0][0] <= end:
                out.append(_merge(group[0][0], group))
        return out


def _bounds(date_format: str, range_from: str, range_to: str) -> tuple[int, int]:
    try:
        if str(date_format) == "1":
            first = dt.date.fromisoformat(range_from)
            last = dt.date.fromisoformat(range_to)
            start = dt.datetime.combine(first, dt.time(0), IST)
            end = dt.datetime.combine(last, dt.time(23, 59, 59), IST)
            return int(start.timestamp()), int(end.timestamp())
        return int(range_from), int(range_to)
    except ValueError:
        raise invalid("range_from and range_to must be epoch seconds (date_format 0) or "
                      "yyyy-mm-dd (date_format 1)") from None


@lru_cache(maxsize=4096)
def _minutes(seed: int, ticker: str, day: dt.date, base: str, tick_text: str
             ) -> tuple[Candle, ...]:
    tick = Decimal(tick_text)
    rng = random.Random(zlib.crc32(f"{seed}|{ticker}|{day.isoformat()}".encode()))
    drift = random.Random(zlib.crc32(f"{seed}|{ticker}".encode())).uniform(-0.0002, 0.0002)
    days = (day - dt.date(2020, 1, 1)).days
    price = float(base) * (1 + drift * (days % 200 - 100) / 10)
    opening = dt.datetime.combine(day, SESSION_OPEN, IST)
    out = []
    for minute in range(SESSION_MINUTES):
        ts = int(opening.timestamp()) + 60 * minute
        open_ = price
        moves = [price * (1 + rng.gauss(0, 0.0006)) for _ in range(3)]
        close = moves[-1]
        high = max(open_, *moves)
        low = min(open_, *moves)
        out.append((ts, _tick(open_, tick), _tick(high, tick), _tick(low, tick),
                    _tick(close, tick), rng.randint(100, 5000)))
        price = close
    return tuple(out)


def _tick(value: float, tick: Decimal) -> float:
    steps = (Decimal(repr(value)) / tick).to_integral_value(ROUND_HALF_EVEN)
    return float(steps * tick)


def _merge(ts: int, group: list[Candle] | tuple[Candle, ...]) -> Candle:
    return (ts, group[0][1], max(c[2] for c in group), min(c[3] for c in group), group[-1][4],
            sum(c[5] for c in group))


def _seconds(minutes: tuple[Candle, ...], seconds: int) -> list[Candle]:
    out: list[Candle] = []
    per_minute = 60 // seconds
    for ts, open_, high, low, close, volume in minutes:
        for k in range(per_minute):
            frac = k / per_minute
            price = open_ + (close - open_) * frac
            out.append((ts + k * seconds, price, max(price, min(high, price + 0.05)),
                        min(price, max(low, price - 0.05)), price, volume // per_minute))
    return out


__all__ = ["IST", "MAX_DAYS", "Candle", "History", "resolution_seconds"]
