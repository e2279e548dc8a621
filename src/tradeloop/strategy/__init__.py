"""The strategy API: subclass :class:`Strategy`, declare parameters, implement hooks."""

from tradeloop.strategy.base import Strategy
from tradeloop.strategy.crossing import crossed_above, crossed_below

__all__ = ["Strategy", "crossed_above", "crossed_below"]
