"""Trendbars of the local cTrader proxy: a deterministic price path, any range on demand.

The mid price at each second is a fixed function of the second (two slow waves and seeded
noise around the symbol's opening price), so any request for any period gives the same bars
again; a bar is made of sixteen samples of the time it spans and its last second.
Bars are encoded as cTrader sends them: ``low`` and the deltas to open, high and close, in
1/100000, with the bar's open time in minutes.
"""

from __future__ import annotations

import math

from tradeloop.brokers.ctrader.messages import TRENDBAR_MINUTES, TrendbarPeriod

from .model import SymbolSpec

_SAMPLES = 16
_MASK = (1 << 64) - 1


def _unit(key: int) -> float:
    """A number in [-1, 1) that depends only on ``key`` (a splitmix64 step)."""
    z = (key + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return z / (1 << 63) - 1.0


def mid(spec: SymbolSpec, second: int, seed: int) -> int:
    """The mid price (1/100000) of a symbol at a Unix second."""
    base = (spec.bid + spec.ask) / 2
    noise = _unit(second * 1_000_003 + spec.symbol_id * 7919 + seed)
    minute = second / 60
    move = 0.002 * math.sin(minute / 977) + 0.0008 * math.sin(minute / 61) + 0.0002 * noise
    step = spec.point
    return round(base * (1 + move) / step) * step


def bar(spec: SymbolSpec, period: TrendbarPeriod, start_minute: int, seed: int,
        ) -> dict[str, int]:
    """The ``ProtoOATrendbar`` of ``period`` opening at ``start_minute``."""
    length_s = TRENDBAR_MINUTES[period] * 60
    start_s = start_minute * 60
    seconds = [start_s + (k * length_s) // _SAMPLES for k in range(_SAMPLES)]
    prices = [mid(spec, t, seed) for t in seconds] + [mid(spec, start_s + length_s - 1, seed)]
    low, high = min(prices), max(prices)
    return {"volume": length_s // 6 + (start_minute % 7), "period": period, "low": low,
            "deltaOpen": prices[0] - low, "deltaHigh": high - low,
            "deltaClose": prices[-1] - low, "utcTimestampInMinutes": start_minute}


def bars(spec: SymbolSpec, period: TrendbarPeriod, from_ms: int, to_ms: int, seed: int,
         first_minute: int, last_minute: int) -> list[dict[str, int]]:
    """Bars opening in ``[from, to]`` (ms, both ends included), within the history that
    exists (``first_minute`` to ``last_minute``), oldest first."""
    length = TRENDBAR_MINUTES[period]
    lo = max(-(-from_ms // 60_000), first_minute)
    hi = min(to_ms // 60_000, last_minute)
    start = -(-lo // length) * length
    return [bar(spec, period, t, seed) for t in range(start, hi + 1, length)]


__all__ = ["bar", "bars", "mid"]
