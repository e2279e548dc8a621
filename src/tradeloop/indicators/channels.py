"""Rolling extremes and the Donchian channel, matching TA-Lib's MAX and MIN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from tradeloop.indicators._bases import PeriodIndicator, SourceIndicator
from tradeloop.indicators._kernels import nan_array, rolling_max, rolling_min
from tradeloop.indicators._streaming import RollingExtreme
from tradeloop.indicators._validate import check_period
from tradeloop.indicators.base import FloatArray


class _RollingExtreme(SourceIndicator):
    # Highest (``_highest = True``) or lowest value of the last ``period`` values of the source.
    # Each subclass defines its own update(): CPython 3.11 specialises the attribute accesses of
    # a bytecode instruction for one class at a time, so an update() shared by Highest and
    # Lowest would be re-specialised back and forth, about a third slower, when both are fed on
    # every bar.
    __slots__ = ("_window",)

    _highest: ClassVar[bool]

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._window = RollingExtreme(self._period, highest=self._highest)

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        rolling = rolling_max if self._highest else rolling_min
        out = nan_array(x.size)
        out[self._period - 1 :] = rolling(x, self._period)
        return {"value": out}


class Highest(_RollingExtreme):
    """Highest value of the last ``period`` bars (TA-Lib ``MAX``).

    Parameters
    ----------
    period : int
        Window length, a positive integer.
    source : str, default "high"
        The bar field scanned.

    Notes
    -----
    Streaming uses a monotonic deque: amortised O(1) per update.
    """

    __slots__ = ()

    _label = "Highest"
    _default_source = "high"
    _highest = True

    def __init__(self, period: int, source: str = "high") -> None:
        super().__init__(period, source)

    def update(self, *values: float) -> None:
        """Consume the next value of the source field.

        Parameters
        ----------
        *values : float
            One value: the source field of the new bar.
        """
        self.prev = self.value
        highest = self._window.push(values[0])
        count = self.count + 1
        self.count = count
        if count >= self._period:
            self.value = highest


class Lowest(_RollingExtreme):
    """Lowest value of the last ``period`` bars (TA-Lib ``MIN``).

    Parameters
    ----------
    period : int
        Window length, a positive integer.
    source : str, default "low"
        The bar field scanned.

    Notes
    -----
    Streaming uses a monotonic deque: amortised O(1) per update.
    """

    __slots__ = ()

    _label = "Lowest"
    _default_source = "low"
    _highest = False

    def __init__(self, period: int, source: str = "low") -> None:
        super().__init__(period, source)

    def update(self, *values: float) -> None:
        """Consume the next value of the source field.

        Parameters
        ----------
        *values : float
            One value: the source field of the new bar.
        """
        self.prev = self.value
        lowest = self._window.push(values[0])
        count = self.count + 1
        self.count = count
        if count >= self._period:
            self.value = lowest


class Donchian(PeriodIndicator):
    """Donchian channel: highest high and lowest low of the last ``period`` bars.

    ``value`` is the middle line ``(upper + lower) / 2``.

    Parameters
    ----------
    period : int, default 20
        Window length, a positive integer.

    Attributes
    ----------
    upper : float
        Highest high (TA-Lib ``MAX`` of ``high``), ``nan`` until ready.
    lower : float
        Lowest low (TA-Lib ``MIN`` of ``low``), ``nan`` until ready.
    """

    __slots__ = ("_highs", "_lows", "lower", "upper")

    outputs = ("upper", "lower")

    upper: float
    lower: float

    _label = "Donchian"

    def __init__(self, period: int = 20) -> None:
        self._period = check_period(self._label, period)
        self._highs = RollingExtreme(self._period, highest=True)
        self._lows = RollingExtreme(self._period, highest=False)
        super().__init__(("high", "low"), self._period)

    def reset(self) -> None:
        """Forget every bar seen."""
        super().reset()
        self._highs.reset()
        self._lows.reset()

    def update(self, *values: float) -> None:
        """Consume the next bar.

        Parameters
        ----------
        *values : float
            ``high, low`` of the new bar.
        """
        high, low = values
        self.prev = self.value
        upper = self._highs.push(high)
        lower = self._lows.push(low)
        count = self.count + 1
        self.count = count
        if count >= self._period:
            self.upper = upper
            self.lower = lower
            self.value = (upper + lower) / 2.0

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        high, low = columns
        n = high.size
        upper, lower = nan_array(n), nan_array(n)
        upper[self._period - 1 :] = rolling_max(high, self._period)
        lower[self._period - 1 :] = rolling_min(low, self._period)
        return {"value": (upper + lower) / 2.0, "upper": upper, "lower": lower}
