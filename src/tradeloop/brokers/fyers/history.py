"""Fyers' historical candles (``GET /data/history``), split into the requests Fyers allows.

Fyers serves candles of 5, 10, 15, 30 and 45 seconds (for the last 30 trading days only), of
1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 120, 180 and 240 minutes (up to 100 days per request) and
daily ones (up to 366 days per request). A range is asked for in epoch seconds
(``date_format=0``) with both ends included; each candle is ``[epoch seconds, open, high, low,
close, volume]`` stamped at its open. A candle still forming is left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.model.data import BarSeries

_DAY = 86_400
#: Bar length in seconds -> Fyers' resolution.
RESOLUTIONS: dict[int, str] = {
    5: "5S", 10: "10S", 15: "15S", 30: "30S", 45: "45S", 60: "1", 120: "2", 180: "3",
    300: "5", 600: "10", 900: "15", 1200: "20", 1800: "30", 2700: "45", 3600: "60",
    7200: "120", 10_800: "180", 14_400: "240", _DAY: "D",
}
Progress = Callable[[int, int], None]


def resolution_of(timeframe: str) -> tuple[str, int]:
    """Fyers' resolution of ``timeframe`` and its length in seconds.

    Raises
    ------
    ConfigError
        Fyers has no candles of that length.
    """
    seconds = parse_timeframe(timeframe).ns // NANOS_PER_SECOND
    found = RESOLUTIONS.get(seconds)
    if found is None:
        known = ", ".join(parse_timeframe(s * NANOS_PER_SECOND).label for s in RESOLUTIONS)
        raise ConfigError(f"Fyers has no {timeframe} candles (it has {known})")
    return found, seconds


def span_days(seconds: int) -> int:
    """The longest range, in days, one request may cover for candles of ``seconds``."""
    if seconds < 60:
        return 30
    if seconds < _DAY:
        return 100
    return 366


def chunks(start_s: int, end_s: int, seconds: int) -> list[tuple[int, int]]:
    """``[start_s, end_s)`` as requests ``(range_from, range_to)``, both ends included, each
    within Fyers' limit for the resolution."""
    span = span_days(seconds) * _DAY
    out = []
    cursor = start_s
    while cursor < end_s:
        last = min(cursor + span, end_s) - 1
        out.append((cursor, last))
        cursor = last + 1
    return out


async def fetch_bars(client: FyersClient, symbol: str, timeframe: str, start_ns: int,
                     end_ns: int, progress: Progress | None = None,
                     now: Callable[[], float] = time.time) -> BarSeries:
    """Complete candles of ``symbol`` that open in ``[start_ns, end_ns)``, oldest first.

    Raises
    ------
    ConfigError
        A bar length Fyers does not have.
    FyersFatalError
        Fyers refused a request (an unknown symbol, a range it does not serve).
    """
    resolution, seconds = resolution_of(timeframe)
    start_s = -(-start_ns // NANOS_PER_SECOND)
    end_s = -(-end_ns // NANOS_PER_SECOND)
    complete_before = int(now()) - seconds
    rows: dict[int, list[Any]] = {}
    requests = chunks(start_s, end_s, seconds)
    for k, (first, last) in enumerate(requests, start=1):
        answer = await client.request("GET", "/data/history", f"history {symbol}", params={
            "symbol": symbol, "resolution": resolution, "date_format": 0,
            "range_from": first, "range_to": last, "cont_flag": 1})
        for candle in answer.get("candles") or ():
            if not isinstance(candle, list | tuple) or len(candle) < 6:
                continue
            ts = int(candle[0])
            if start_s <= ts < end_s and ts <= complete_before:
                rows[ts] = list(candle)
        if progress is not None:
            progress(k, len(requests))
    ordered = [rows[ts] for ts in sorted(rows)]
    data = np.asarray([[float(x or 0.0) for x in row[1:6]] for row in ordered],
                      dtype=np.float64).reshape(-1, 5)
    stamps = np.asarray([int(row[0]) * NANOS_PER_SECOND for row in ordered], dtype=np.int64)
    return BarSeries(symbol, stamps, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy(),
                     data[:, 3].copy(), data[:, 4].copy(),
                     timeframe_ns=seconds * NANOS_PER_SECOND,
                     source=f"fyers:{symbol}:{resolution}")


__all__ = ["RESOLUTIONS", "chunks", "fetch_bars", "resolution_of", "span_days"]
