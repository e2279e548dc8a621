"""Rolling extremes and the Donchian channel, matching TA-Lib's MAX and MIN."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradeloop.indicators._kernels import nan_array, rolling_max, rolling_min
from tradeloop.indicators._streaming import RollingMax, RollingMin
from tradeloop.indicators._validate import check_period, check_source, source_suffix
from tradeloop.indicators.base import FloatArray, Indicator


class Highest(Indicator):
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

    __slots__ = ("_period", "_source", "_window")

    def __init__(self, period: int, source: str = "high") -> None:
        self._period = check_period("Highest", period)
        self._source = check_source("Highest", source)
        self._window = RollingMax(self._period)
        super().__init__((self._source,), self._period)

    @property
    def period(self) -> int:
        """int : The window length."""
        return self._period

    @property
    def name(self) -> str:
        """str : ``"Highest(period)"``."""
        return f"Highest({self._period}{source_suffix(self._source, 'high')})"

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._window.reset()

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

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        out = nan_array(x.size)
        out[self._period - 1 :] = rolling_max(x, self._period)
        return {"value": out}


class Lowest(Indicator):
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

    __slots__ = ("_period", "_source", "_window")

    def __init__(self, period: int, source: str = "low") -> None:
        self._period = check_period("Lowest", period)
        self._source = check_source("Lowest", source)
        self._window = RollingMin(self._period)
        super().__init__((self._source,), self._period)

    @property
    def period(self) -> int:
        """int : The window length."""
        return self._period

    @property
    def name(self) -> str:
        """str : ``"Lowest(period)"``."""
        return f"Lowest({self._period}{source_suffix(self._source, 'low')})"

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._window.reset()

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

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        out = nan_array(x.size)
        out[self._period - 1 :] = rolling_min(x, self._period)
        return {"value": out}


class Donchian(Indicator):
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

    __slots__ = ("_highs", "_lows", "_period", "lower", "upper")

    outputs = ("upper", "lower")

    upper: float
    lower: float

    def __init__(self, period: int = 20) -> None:
        self._period = check_period("Donchian", period)
        self._highs = RollingMax(self._period)
        self._lows = RollingMin(self._period)
        super().__init__(("high", "low"), self._period)

    @property
    def period(self) -> int:
        """int : The window length."""
        return self._period

    @property
    def name(self) -> str:
        """str : ``"Donchian(period)"``."""
        return f"Donchian({self._period})"

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
