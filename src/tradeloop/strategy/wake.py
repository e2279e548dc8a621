"""Wake conditions: the bars a strategy acts on, declared so that the engine can skip the rest.

A strategy that only acts when something happens (two averages cross, an oscillator leaves a
band) can say so in ``on_start``::

    def on_start(self):
        self.fast_ma = self.indicator(SMA(10))
        self.slow_ma = self.indicator(SMA(30))
        self.wake_when(Cross(self.fast_ma, self.slow_ma))

From then on ``on_bar`` runs only on the bars of that symbol where one of the declared
conditions holds, in every mode: paper and live evaluate each condition as each bar closes,
after the indicators have updated. Everything else goes on as before: orders work and fill on
every bar, and ``on_fill``, ``on_order`` and alerts arrive when they happen.

A backtest whose indicators are precomputed evaluates the conditions over the whole series at
once and walks only the bars where something can happen: a condition holds, an order is working,
or an alert is due. The results are the same as calling ``on_bar`` on every bar and returning
early; the difference is speed.

Operands are the strategy's own indicators (their ``value``, and ``prev`` for crossings) or
constant levels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import SupportsFloat

import numpy as np
import numpy.typing as npt

from tradeloop.indicators.base import Indicator

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: An indicator, or a constant level (int, float, Decimal, a NumPy scalar).
Operand = Indicator | SupportsFloat
#: The precomputed ``value`` column of an indicator, over the whole series.
ValuesOf = Callable[[Indicator], FloatArray]


class _Side:
    """One operand, read as a pair (previous, current) one bar at a time, or as its values over
    the whole series (a column, or the level)."""

    __slots__ = ("indicator", "level")

    def __init__(self, operand: Operand, role: str, condition: str) -> None:
        if isinstance(operand, Indicator):
            self.indicator: Indicator | None = operand
            self.level = 0.0
            return
        try:
            self.level = float(operand)
        except (TypeError, ValueError):
            raise TypeError(
                f"{condition}: {role} must be an indicator or a number, not "
                f"{type(operand).__name__}"
            ) from None
        self.indicator = None

    def describe(self) -> str:
        return self.indicator.name if self.indicator is not None else f"{self.level:g}"

    def values(self, values_of: ValuesOf) -> FloatArray | np.float64:
        return values_of(self.indicator) if self.indicator is not None else np.float64(self.level)


class WakeCondition(ABC):
    """A condition on indicator values that wakes a strategy's ``on_bar``.

    Subclasses compare two operands, each an indicator or a constant level.
    """

    __slots__ = ("_a", "_b")

    def __init__(self, a: Operand, b: Operand) -> None:
        self._a = _Side(a, "the first operand", type(self).__name__)
        self._b = _Side(b, "the second operand", type(self).__name__)
        if self._a.indicator is None and self._b.indicator is None:
            raise TypeError(f"{self!r} compares two numbers; give it at least one indicator")

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        """tuple of Indicator : The indicators the condition reads."""
        return tuple(s.indicator for s in (self._a, self._b) if s.indicator is not None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._a.describe()}, {self._b.describe()})"

    @abstractmethod
    def holds(self) -> bool:
        """Whether the condition holds on the indicators' current values."""

    @abstractmethod
    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where the condition holds, bar by bar, over precomputed values.

        Parameters
        ----------
        values_of : callable
            Gives an indicator's ``value`` column over the whole series.
        starts : dict
            Each indicator's ``value`` before the first bar, by ``id()`` (its first ``prev``).

        Returns
        -------
        numpy.ndarray of bool
            Element ``i`` is what :meth:`holds` says after bar ``i``.
        """

    def _comparisons(self, values_of: ValuesOf, starts: dict[int, float]) -> tuple[
            BoolArray, BoolArray, BoolArray, BoolArray]:
        # Whether ``a`` is below ``b`` and whether above, on the previous bar and now. Each
        # comparison is made once: the previous bar's is the current one shifted by a bar.
        a, b = self._a.values(values_of), self._b.values(values_of)
        with np.errstate(invalid="ignore"):  # NaN (not ready yet) is neither below nor above
            below, above = np.less(a, b), np.greater(a, b)
        a_start, b_start = _start(self._a, starts), _start(self._b, starts)
        return (_shifted(below, a_start < b_start), below,
                _shifted(above, a_start > b_start), above)


def _shifted(now: BoolArray, first: bool) -> BoolArray:
    before = np.empty_like(now)
    if now.shape[0]:
        before[0] = first
        before[1:] = now[:-1]
    return before


def _start(side: _Side, starts: dict[int, float]) -> float:
    return starts[id(side.indicator)] if side.indicator is not None else side.level


def _prev(side: _Side) -> float:
    return side.indicator.prev if side.indicator is not None else side.level


def _now(side: _Side) -> float:
    return side.indicator.value if side.indicator is not None else side.level


class CrossAbove(WakeCondition):
    """``a`` was below ``b`` on the previous bar and is above it now (as ``crossed_above``)."""

    __slots__ = ()

    def holds(self) -> bool:
        """Whether ``a`` has just crossed above ``b``."""
        return _prev(self._a) < _prev(self._b) and _now(self._a) > _now(self._b)

    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where ``a`` crosses above ``b`` (see :meth:`WakeCondition.mask`)."""
        below_before, _, _, above = self._comparisons(values_of, starts)
        return below_before & above


class CrossBelow(WakeCondition):
    """``a`` was above ``b`` on the previous bar and is below it now (as ``crossed_below``)."""

    __slots__ = ()

    def holds(self) -> bool:
        """Whether ``a`` has just crossed below ``b``."""
        return _prev(self._a) > _prev(self._b) and _now(self._a) < _now(self._b)

    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where ``a`` crosses below ``b`` (see :meth:`WakeCondition.mask`)."""
        _, below, above_before, _ = self._comparisons(values_of, starts)
        return above_before & below


class Cross(WakeCondition):
    """``a`` crosses ``b`` either way: :class:`CrossAbove` or :class:`CrossBelow`."""

    __slots__ = ()

    def holds(self) -> bool:
        """Whether ``a`` has just crossed ``b``, up or down."""
        a_prev, a_now, b_prev, b_now = (
            _prev(self._a), _now(self._a), _prev(self._b), _now(self._b))
        return (a_prev < b_prev and a_now > b_now) or (a_prev > b_prev and a_now < b_now)

    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where ``a`` crosses ``b`` either way (see :meth:`WakeCondition.mask`)."""
        below_before, below, above_before, above = self._comparisons(values_of, starts)
        crossed = below_before & above
        crossed |= above_before & below
        return crossed


class Above(WakeCondition):
    """``a`` is above ``b`` now (for example ``Above(rsi, 70)``)."""

    __slots__ = ()

    def holds(self) -> bool:
        """Whether ``a`` is above ``b``."""
        return _now(self._a) > _now(self._b)

    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where ``a`` is above ``b`` (see :meth:`WakeCondition.mask`)."""
        return self._comparisons(values_of, starts)[3]


class Below(WakeCondition):
    """``a`` is below ``b`` now (for example ``Below(rsi, 30)``)."""

    __slots__ = ()

    def holds(self) -> bool:
        """Whether ``a`` is below ``b``."""
        return _now(self._a) < _now(self._b)

    def mask(self, values_of: ValuesOf, starts: dict[int, float]) -> BoolArray:
        """Where ``a`` is below ``b`` (see :meth:`WakeCondition.mask`)."""
        return self._comparisons(values_of, starts)[1]
