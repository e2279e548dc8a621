"""The strategy API: subclass :class:`Strategy`, declare parameters, implement hooks."""

from tradeloop.strategy.base import Strategy
from tradeloop.strategy.crossing import crossed_above, crossed_below
from tradeloop.strategy.wake import Above, Below, Cross, CrossAbove, CrossBelow, WakeCondition

__all__ = [
    "Above",
    "Below",
    "Cross",
    "CrossAbove",
    "CrossBelow",
    "Strategy",
    "WakeCondition",
    "crossed_above",
    "crossed_below",
]
