"""Moving averages: SMA, EMA and WMA, matching TA-Lib's SMA, EMA and WMA."""

from __future__ import annotations

from collections.abc import Sequence
from math import fsum

import numpy as np

from tradeloop.indicators._bases import SourceIndicator
from tradeloop.indicators._kernels import ema_tail, nan_array, rolling_sum, rolling_weighted_sum
from tradeloop.indicators.base import FloatArray


class SMA(SourceIndicator):
    """Simple moving average of the last ``period`` values (TA-Lib ``SMA``).

    Parameters
    ----------
    period : int
        Window length, a positive integer.
    source : str, default "close"
        The bar field averaged.

    Notes
    -----
    The running sum is recomputed exactly (``math.fsum``) every ``period`` updates, so rounding
    does not accumulate however long the stream.

    Examples
    --------
    >>> sma = SMA(3)
    >>> for x in (1.0, 2.0, 3.0, 4.0):
    ...     sma.update(x)
    >>> sma.value, sma.prev
    (3.0, 2.0)
    """

    __slots__ = ("_buf", "_i", "_total")

    _label = "SMA"

    def __init__(self, period: int, source: str = "close") -> None:
        super().__init__(period, source)

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._buf = [0.0] * self._period
        self._i = 0
        self._total = 0.0

    def update(self, *values: float) -> None:
        """Consume the next value of the source field.

        Parameters
        ----------
        *values : float
            One value: the source field of the new bar.
        """
        x = values[0]
        self.prev = self.value
        buf = self._buf
        i = self._i
        total = self._total + x - buf[i]
        buf[i] = x
        i += 1
        if i == self._period:
            i = 0
            total = fsum(buf)
        self._i = i
        self._total = total
        count = self.count + 1
        self.count = count
        if count >= self._period:
            self.value = total / self._period

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        p = self._period
        out = np.empty(x.size)
        out[: p - 1] = np.nan
        if x.size >= p:
            np.divide(rolling_sum(x, p), p, out=out[p - 1 :])  # no bar-long temporary
        return {"value": out}


class EMA(SourceIndicator):
    """Exponential moving average with ``k = 2 / (period + 1)`` (TA-Lib ``EMA``).

    Like TA-Lib, the first value (after ``period`` updates) is the simple average of the first
    ``period`` values; each later value is ``ema + k * (x - ema)``.

    Parameters
    ----------
    period : int
        Span, a positive integer.
    source : str, default "close"
        The bar field averaged.
    """

    __slots__ = ("_ema", "_k", "_sum")

    _label = "EMA"

    def __init__(self, period: int, source: str = "close") -> None:
        super().__init__(period, source)
        self._k = 2.0 / (self._period + 1)

    @property
    def k(self) -> float:
        """float : The smoothing factor ``2 / (period + 1)``."""
        return self._k

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._ema = 0.0
        self._sum = 0.0

    def update(self, *values: float) -> None:
        """Consume the next value of the source field.

        Parameters
        ----------
        *values : float
            One value: the source field of the new bar.
        """
        x = values[0]
        self.prev = self.value
        count = self.count + 1
        self.count = count
        if count > self._period:
            ema = self._ema
            ema = (x - ema) * self._k + ema
            self._ema = ema
            self.value = ema
        else:
            total = self._sum + x
            self._sum = total
            if count == self._period:
                ema = total / self._period
                self._ema = ema
                self.value = ema

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        p = self._period
        out = nan_array(x.size)
        if x.size >= p:
            seed = float(np.sum(x[:p])) / p
            out[p - 1] = seed
            out[p:] = ema_tail(x[p:], self._k, seed)
        return {"value": out}


class WMA(SourceIndicator):
    """Linearly weighted moving average (TA-Lib ``WMA``).

    The newest value has weight ``period``, the oldest weight 1, and the sum is divided by
    ``period * (period + 1) / 2``.

    Parameters
    ----------
    period : int
        Window length, a positive integer.
    source : str, default "close"
        The bar field averaged.

    Notes
    -----
    The weighted and plain running sums are recomputed exactly every ``period`` updates.
    """

    __slots__ = ("_buf", "_divider", "_i", "_plain", "_weighted")

    _label = "WMA"

    def __init__(self, period: int, source: str = "close") -> None:
        super().__init__(period, source)
        self._divider = float(self._period * (self._period + 1) // 2)

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._buf = [0.0] * self._period
        self._i = 0
        self._plain = 0.0
        self._weighted = 0.0

    def update(self, *values: float) -> None:
        """Consume the next value of the source field.

        Parameters
        ----------
        *values : float
            One value: the source field of the new bar.
        """
        x = values[0]
        self.prev = self.value
        p = self._period
        buf = self._buf
        i = self._i
        # Every weight drops by one (the oldest, weight 1, leaves) and x enters with weight p.
        weighted = self._weighted - self._plain + p * x
        plain = self._plain + x - buf[i]
        buf[i] = x
        i += 1
        if i == p:
            i = 0
            plain = fsum(buf)
            weighted = fsum([(j + 1) * v for j, v in enumerate(buf)])
        self._i = i
        self._plain = plain
        self._weighted = weighted
        count = self.count + 1
        self.count = count
        if count >= p:
            self.value = weighted / self._divider

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        p = self._period
        out = nan_array(x.size)
        weights = np.arange(p, 0, -1, dtype=np.float64)
        out[p - 1 :] = rolling_weighted_sum(x, weights) / self._divider
        return {"value": out}
