"""Price history of the local Schwab: ``GET /marketdata/v1/pricehistory``.

Candles are generated, the same on every request: a seeded daily random walk per symbol from
2015 on, and within each weekday a seeded minute path from the previous close to that day's
close. Minute candles cover the regular session (09:30-16:00 America/New_York), or 07:00-20:00
with ``needExtendedHoursData=true``, for the last ``minute_days`` days (older minute requests
answer no candles, as Schwab's minute history is short); daily candles start at midnight
America/Chicago, as Schwab stamps them. Holidays are not modelled; the live quotes that
:meth:`~support.schwab.SchwabServer.set_price` moves are not part of the history.

Parameters as Schwab takes them: ``symbol``, ``periodType`` (day, month, year, ytd),
``frequencyType`` (minute with periodType day; daily with month, year or ytd), ``frequency``
(1, 5, 10, 15 or 30 for minutes; 1 for daily), ``startDate``/``endDate`` (ms, both inclusive),
``needExtendedHoursData``. Answer: ``{"candles": [{"open", "high", "low", "close", "volume",
"datetime"}], "symbol", "empty"}``.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .errors import SchwabError

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
FIRST_DAY = date(2015, 1, 2)
_MINUTE_MS = 60_000
_FREQUENCIES = {"minute": (1, 5, 10, 15, 30), "daily": (1,)}
_PERIOD_FOR = {"minute": ("day",), "daily": ("month", "year", "ytd")}


def _bad(detail: str) -> SchwabError:
    return SchwabError(400, detail)


class History:
    """Generated candles.

    Parameters
    ----------
    seed : int
    opening : callable
        ``opening(symbol) -> float | None``: a listed symbol's price (None: not listed).
    now_ms : callable
    minute_days : int
        How far back minute candles go.
    """

    def __init__(self, seed: int, opening: Any, now_ms: Any, minute_days: int = 48) -> None:
        self.seed = seed
        self._opening = opening
        self._now = now_ms
        self.minute_days = minute_days

    def answer(self, params: dict[str, str]) -> dict[str, Any]:
        """The answer to one request's query parameters.

        Raises
        ------
        SchwabError
            400 for a missing or unknown symbol or an unsupported combination.
        """
        symbol = params.get("symbol", "")
        base = self._opening(symbol) if symbol else None
        if base is None:
            raise _bad(f"symbol {symbol!r} is not valid")
        kind = params.get("frequencyType", "")
        if kind not in _FREQUENCIES:
            raise _bad(f"frequencyType {kind!r} is not supported here (minute or daily)")
        period = params.get("periodType", "day" if kind == "minute" else "month")
        if period not in _PERIOD_FOR[kind]:
            raise _bad(f"periodType {period!r} does not go with frequencyType {kind!r}")
        try:
            frequency = int(params.get("frequency", "1"))
            now = self._now()
            end = int(params.get("endDate", str(now)))
            start = int(params.get("startDate", str(end - 10 * 86_400_000)))
        except ValueError:
            raise _bad("frequency, startDate and endDate must be whole numbers") from None
        if frequency not in _FREQUENCIES[kind]:
            raise _bad(f"frequency {frequency} is not valid for {kind}")
        extended = params.get("needExtendedHoursData", "false").lower() == "true"
        end = min(end, now)
        if kind == "minute":
            candles = self._minutes(symbol, float(base), frequency, start, end, extended)
        else:
            candles = self._days(symbol, float(base), start, end)
        return {"candles": candles, "symbol": symbol, "empty": not candles}

    # -- generation -----------------------------------------------------------------------

    def _closes(self, symbol: str, base: float) -> np.ndarray:
        return _daily_closes(self.seed, symbol, base, self._today().toordinal())

    def _today(self) -> date:
        return datetime.fromtimestamp(self._now() / 1000, NEW_YORK).date()

    def _day_close(self, symbol: str, base: float, day: date) -> tuple[float, float]:
        closes = self._closes(symbol, base)
        k = min(len(closes) - 1, max(1, day.toordinal() - FIRST_DAY.toordinal()))
        return float(closes[k - 1]), float(closes[k])

    def _path(self, symbol: str, base: float, day: date) -> np.ndarray:
        """Prices at each minute of 04:00-20:00 New York (961 points)."""
        prev, close = self._day_close(symbol, base, day)
        rng = np.random.default_rng([self.seed, zlib.crc32(symbol.encode()), day.toordinal()])
        steps = rng.normal(0.0, 0.0006, 960)
        walk = np.concatenate([[0.0], np.cumsum(steps)])
        bridge = walk - np.linspace(0.0, walk[-1], walk.size)
        return prev * np.exp(bridge + np.linspace(0.0, np.log(close / prev), walk.size))

    def _minutes(self, symbol: str, base: float, frequency: int, start: int, end: int,
                 extended: bool) -> list[dict[str, Any]]:
        oldest = self._now() - self.minute_days * 86_400_000
        start = max(start, oldest)
        out: list[dict[str, Any]] = []
        if start > end:
            return out
        day = datetime.fromtimestamp(start / 1000, NEW_YORK).date()
        last = datetime.fromtimestamp(end / 1000, NEW_YORK).date()
        while day <= last:
            if day.weekday() < 5:
                out += self._session(symbol, base, day, frequency, extended, start, end)
            day += timedelta(days=1)
        return out

    def _session(self, symbol: str, base: float, day: date, frequency: int, extended: bool,
                 start: int, end: int) -> list[dict[str, Any]]:
        path = self._path(symbol, base, day)
        opens = datetime.combine(day, time(4, 0), NEW_YORK)
        first, stop = (time(7, 0), time(20, 0)) if extended else (time(9, 30), time(16, 0))
        begin = int((datetime.combine(day, first, NEW_YORK) - opens).total_seconds()) // 60
        finish = int((datetime.combine(day, stop, NEW_YORK) - opens).total_seconds()) // 60
        origin = int(opens.timestamp() * 1000)
        rng = np.random.default_rng([self.seed, zlib.crc32(symbol.encode()), day.toordinal(), 7])
        volumes = rng.integers(100, 5000, 961)
        out = []
        for k in range(begin, finish, frequency):
            ts = origin + k * _MINUTE_MS
            if ts < start or ts > end:
                continue
            span = path[k:k + frequency + 1]
            out.append({"open": round(float(span[0]), 2), "high": round(float(span.max()), 2),
                        "low": round(float(span.min()), 2), "close": round(float(span[-1]), 2),
                        "volume": int(volumes[k:k + frequency].sum()), "datetime": ts})
        return out

    def _days(self, symbol: str, base: float, start: int, end: int) -> list[dict[str, Any]]:
        out = []
        day = max(FIRST_DAY + timedelta(days=1),
                  datetime.fromtimestamp(start / 1000, CHICAGO).date())
        last = datetime.fromtimestamp(end / 1000, CHICAGO).date()
        while day <= last:
            ts = int(datetime.combine(day, time(0, 0), CHICAGO).timestamp() * 1000)
            if day.weekday() < 5 and start <= ts <= end:
                path = self._path(symbol, base, day)[330:721]  # 09:30-16:00
                out.append({"open": round(float(path[0]), 2),
                            "high": round(float(path.max()), 2),
                            "low": round(float(path.min()), 2),
                            "close": round(float(path[-1]), 2),
                            "volume": 1_000_000 + zlib.crc32(f"{symbol}{day}".encode()) % 9_000_000,
                            "datetime": ts})
            day += timedelta(days=1)
        return out


@lru_cache(maxsize=64)
def _daily_closes(seed: int, symbol: str, base: float, today: int) -> np.ndarray:
    """A walk of daily closes from FIRST_DAY to ``today`` (an ordinal) ending at ``base``."""
    days = today - FIRST_DAY.toordinal() + 2
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    steps = rng.normal(0.0003, 0.015, days)
    walk = np.cumsum(steps[::-1])[::-1]  # the last day is the anchor
    return base * np.exp(walk - walk[-1])


def utc_day(ms: int) -> date:
    """The UTC date of a millisecond time."""
    return datetime.fromtimestamp(ms / 1000, UTC).date()


__all__ = ["CHICAGO", "NEW_YORK", "History", "utc_day"]
