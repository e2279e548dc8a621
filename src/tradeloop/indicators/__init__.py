"""Streaming technical indicators with O(1) updates and vectorised NumPy twins.

Every indicator follows :class:`~tradeloop.indicators.base.Indicator`: feed bars one at a time
with ``update()`` (or ``update_bar()``) and read ``value`` (plus any extra ``outputs``) once
``ready``, or compute whole columns at once with ``batch()``. Both twins agree with TA-Lib.
"""

from tradeloop.indicators.base import Indicator
from tradeloop.indicators.channels import Donchian, Highest, Lowest
from tradeloop.indicators.moving_averages import EMA, SMA, WMA
from tradeloop.indicators.oscillators import MACD, RSI, Stochastic
from tradeloop.indicators.trend import ADX
from tradeloop.indicators.volatility import ATR, BollingerBands
from tradeloop.indicators.volume import VWAP

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "BollingerBands",
    "Donchian",
    "Highest",
    "Indicator",
    "Lowest",
    "Stochastic",
]
