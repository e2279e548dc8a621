"""Volatility indicators: ATR and Bollinger Bands, matching TA-Lib's ATR and BBANDS."""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import fsum, sqrt

import numpy as np

from tradeloop.indicators._bases import PeriodIndicator
from tradeloop.indicators._kernels import (
    nan_array,
    rolling_mean,
    rolling_std,
    true_range,
    wilder_tail,
)
from tradeloop.indicators._validate import check_period, check_source, source_suffix
from tradeloop.indicators.base import NAN, FloatArray

# A streaming variance smaller than this fraction of the largest squared deviation that went
# through the running sums since their last exact recomputation may be mostly rounding noise
# (think of a flat window after a volatile one); it is then recomputed exactly from the window.
_VARIANCE_NOISE_RATIO = 1e-6


class ATR(PeriodIndicator):
    """Wilder's average true range (TA-Lib ``ATR``).

    The true range is defined from the second bar on; the first ATR, after ``period + 1``
    updates, is the plain average of the first ``period`` true ranges, and later values use
    Wilder's smoothing ``atr = (atr * (period - 1) + tr) / period``.

    Parameters
    ----------
    period : int, default 14
        A positive integer (``ATR(1)`` is the true range itself).
    """

    __slots__ = ("_atr", "_close", "_sum")

    _label = "ATR"

    def __init__(self, period: int = 14) -> None:
        self._period = check_period(self._label, period)
        super().__init__(("high", "low", "close"), self._period + 1)

    def reset(self) -> None:
        """Forget every bar seen."""
        super().reset()
        self._atr = 0.0
        self._sum = 0.0
        self._close = NAN

    def update(self, *values: float) -> None:
        """Consume the next bar.

        Parameters
        ----------
        *values : float
            ``high, low, close`` of the new bar.
        """
        high, low, close = values
        self.prev = self.value
        count = self.count + 1
        self.count = count
        previous = self._close
        self._close = close
        if count == 1:
            return
        tr = high - low
        candidate = abs(high - previous)
        if candidate > tr:  # noqa: PLR1730 (max() costs a call on the hot path)
            tr = candidate
        candidate = abs(low - previous)
        if candidate > tr:  # noqa: PLR1730 (max() costs a call on the hot path)
            tr = candidate
        p = self._period
        if count > p + 1:
            atr = self._atr * (p - 1)
            atr += tr
            atr /= p
        else:
            total = self._sum + tr
            self._sum = total
            if count <= p:
                return
            atr = total / p
        self._atr = atr
        self.value = atr

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        high, low, close = columns
        p = self._period
        out = nan_array(close.size)
        if close.size > p:
            tr = true_range(high, low, close)
            seed = float(np.sum(tr[1 : p + 1])) / p
            out[p] = seed
            out[p + 1 :] = wilder_tail(tr[p + 1 :], p, seed)
        return {"value": out}


class BollingerBands(PeriodIndicator):
    """Bollinger Bands (TA-Lib ``BBANDS`` with ``matype=SMA`` and ``nbdevup = nbdevdn = k``).

    ``value`` is the middle band, the SMA of the last ``period`` values; ``upper`` and
    ``lower`` are ``middle +/- k * stdev`` with the population standard deviation.

    Parameters
    ----------
    period : int, default 20
        Window length, a positive integer.
    k : float, default 2.0
        Band width in standard deviations, finite and non-negative.
    source : str, default "close"
        The bar field measured.

    Attributes
    ----------
    upper, lower : float
        The bands, ``nan`` until ready.

    Notes
    -----
    The streaming twin keeps running sums of deviations from a shift that is re-centred on
    the window mean every ``period`` updates, so the variance suffers no catastrophic
    cancellation; a variance small enough to be rounding noise is recomputed exactly, so a
    flat window has bands equal to the middle, as in TA-Lib.
    """

    __slots__ = (
        "_buf",
        "_dmax2",
        "_i",
        "_k",
        "_s1",
        "_s2",
        "_shift",
        "_source",
        "lower",
        "upper",
    )

    outputs = ("upper", "lower")

    upper: float
    lower: float

    _label = "BollingerBands"

    def __init__(self, period: int = 20, k: float = 2.0, source: str = "close") -> None:
        self._period = check_period(self._label, period)
        if (
            isinstance(k, bool)
            or not isinstance(k, int | float | np.floating | np.integer)
            or not math.isfinite(k)
            or k < 0
        ):
            raise ValueError(f"BollingerBands k must be a finite non-negative number, got {k!r}")
        self._k = float(k)
        self._source = check_source(self._label, source)
        super().__init__((self._source,), self._period)

    @property
    def k(self) -> float:
        """float : Band width in standard deviations."""
        return self._k

    @property
    def name(self) -> str:
        """str : ``"BollingerBands(period, k)"``."""
        suffix = source_suffix(self._source, "close")
        return f"BollingerBands({self._period}, {self._k:g}{suffix})"

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._buf = [0.0] * self._period
        self._i = 0
        self._shift = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._dmax2 = 0.0

    def _recompute(self) -> None:
        buf = self._buf
        shift = fsum(buf) / self._period
        deviations = [v - shift for v in buf]
        squares = [d * d for d in deviations]
        self._shift = shift
        self._s1 = fsum(deviations)
        self._s2 = fsum(squares)
        self._dmax2 = max(squares)

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
        p = self._period
        buf = self._buf
        if count == 1:
            buf[:] = [x] * p
            self._shift = x
        shift = self._shift
        i = self._i
        d = x - shift
        old = buf[i] - shift
        square = d * d
        if square > self._dmax2:  # noqa: PLR1730 (max() costs a call on the hot path)
            self._dmax2 = square
        buf[i] = x
        i += 1
        fresh = i == p
        if fresh:
            self._i = 0
            self._recompute()
        else:
            self._i = i
            self._s1 += d - old
            self._s2 += square - old * old
        if count < p:
            return
        mean_dev = self._s1 / p
        var = self._s2 / p - mean_dev * mean_dev
        if not fresh and var < _VARIANCE_NOISE_RATIO * self._dmax2:
            self._recompute()
            mean_dev = self._s1 / p
            var = self._s2 / p - mean_dev * mean_dev
        middle = self._shift + mean_dev
        width = self._k * sqrt(var) if var > 0.0 else 0.0
        self.value = middle
        self.upper = middle + width
        self.lower = middle - width

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        p = self._period
        n = x.size
        middle, upper, lower = nan_array(n), nan_array(n), nan_array(n)
        if n >= p:
            mean = rolling_mean(x, p)
            width = self._k * rolling_std(x, p, mean)
            middle[p - 1 :] = mean
            upper[p - 1 :] = mean + width
            lower[p - 1 :] = mean - width
        return {"value": middle, "upper": upper, "lower": lower}
