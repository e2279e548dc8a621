"""Oscillators: RSI, MACD and the stochastic oscillator, matching TA-Lib."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradeloop.indicators._bases import SourceIndicator
from tradeloop.indicators._kernels import (
    ema_tail,
    nan_array,
    rolling_max,
    rolling_mean,
    rolling_min,
    wilder_tail,
)
from tradeloop.indicators._streaming import RollingExtreme, RollingMean
from tradeloop.indicators._validate import check_period, check_source, source_suffix
from tradeloop.indicators.base import NAN, FloatArray, Indicator


class RSI(SourceIndicator):
    """Wilder's relative strength index (TA-Lib ``RSI``), between 0 and 100.

    The first value, after ``period + 1`` updates, uses the plain averages of the first
    ``period`` gains and losses; later averages use Wilder's smoothing
    ``avg = (avg * (period - 1) + x) / period``.

    Parameters
    ----------
    period : int, default 14
        An integer >= 2 (TA-Lib's range).
    source : str, default "close"
        The bar field measured.

    Notes
    -----
    As in TA-Lib, the RSI is 0 (not undefined) while the average gain and loss are both zero,
    e.g. on a flat series.
    """

    __slots__ = ("_gain", "_last", "_loss")

    _label = "RSI"

    def __init__(self, period: int = 14, source: str = "close") -> None:
        super().__init__(period, source, minimum=2, extra_warmup=1)

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._gain = 0.0
        self._loss = 0.0
        self._last = NAN

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
        if count == 1:
            self._last = x
            return
        diff = x - self._last
        self._last = x
        p = self._period
        gain = self._gain
        loss = self._loss
        if count > p + 1:
            loss *= p - 1
            gain *= p - 1
            if diff < 0.0:
                loss -= diff
            else:
                gain += diff
            loss /= p
            gain /= p
        else:
            if diff < 0.0:
                loss -= diff
            else:
                gain += diff
            if count == p + 1:
                loss /= p
                gain /= p
        self._gain = gain
        self._loss = loss
        if count > p:
            total = gain + loss
            self.value = 100.0 * (gain / total) if total != 0.0 else 0.0

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        p = self._period
        out = nan_array(x.size)
        if x.size > p:
            diff = np.diff(x)
            losses = np.where(diff < 0.0, -diff, 0.0)
            gains = np.where(diff < 0.0, 0.0, diff)
            avg_gain = np.empty(x.size - p)
            avg_loss = np.empty(x.size - p)
            avg_gain[0] = float(np.sum(gains[:p])) / p
            avg_loss[0] = float(np.sum(losses[:p])) / p
            avg_gain[1:] = wilder_tail(gains[p:], p, avg_gain[0])
            avg_loss[1:] = wilder_tail(losses[p:], p, avg_loss[0])
            total = avg_gain + avg_loss
            ratio = np.divide(avg_gain, total, out=np.zeros_like(total), where=total != 0.0)
            out[p:] = 100.0 * ratio
        return {"value": out}


class MACD(Indicator):
    """Moving average convergence/divergence (TA-Lib ``MACD``).

    ``value`` is the MACD line ``EMA(fast) - EMA(slow)``, ``signal`` its EMA over ``signal``
    values and ``histogram`` their difference. All three become valid together after
    ``slow + signal - 1`` updates, as in TA-Lib.

    Parameters
    ----------
    fast : int, default 12
        Span of the fast EMA, a positive integer smaller than ``slow``.
    slow : int, default 26
        Span of the slow EMA.
    signal : int, default 9
        Span of the signal EMA, a positive integer.
    source : str, default "close"
        The bar field measured.

    Attributes
    ----------
    signal : float
        The signal line, ``nan`` until ready.
    histogram : float
        ``value - signal``, ``nan`` until ready.

    Notes
    -----
    TA-Lib does not start the two EMAs at the same bar as a plain ``EMA`` would: both are
    seeded at bar ``slow`` (1-based), the slow one with the average of the first ``slow``
    values and the fast one with the average of the ``fast`` values ending there, i.e. the
    first ``slow - fast`` values never reach the fast EMA. Both twins reproduce this exactly.
    """

    __slots__ = (
        "_fast",
        "_fast_ema",
        "_fast_sum",
        "_k_fast",
        "_k_signal",
        "_k_slow",
        "_signal",
        "_signal_ema",
        "_signal_sum",
        "_slow",
        "_slow_ema",
        "_slow_sum",
        "_source",
        "histogram",
        "signal",
    )

    outputs = ("signal", "histogram")

    signal: float
    histogram: float

    def __init__(
        self, fast: int = 12, slow: int = 26, signal: int = 9, source: str = "close"
    ) -> None:
        self._fast = check_period("MACD", fast, "fast period")
        self._slow = check_period("MACD", slow, "slow period", minimum=2)
        self._signal = check_period("MACD", signal, "signal period")
        if self._fast >= self._slow:
            raise ValueError(
                f"MACD fast period must be smaller than slow period, got fast={fast}, slow={slow}"
            )
        self._source = check_source("MACD", source)
        self._k_fast = 2.0 / (self._fast + 1)
        self._k_slow = 2.0 / (self._slow + 1)
        self._k_signal = 2.0 / (self._signal + 1)
        super().__init__((self._source,), self._slow + self._signal - 1)

    @property
    def periods(self) -> tuple[int, int, int]:
        """tuple of int : ``(fast, slow, signal)``."""
        return (self._fast, self._slow, self._signal)

    @property
    def name(self) -> str:
        """str : ``"MACD(fast, slow, signal)"``."""
        suffix = source_suffix(self._source, "close")
        return f"MACD({self._fast}, {self._slow}, {self._signal}{suffix})"

    def reset(self) -> None:
        """Forget every value seen."""
        super().reset()
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._signal_sum = 0.0
        self._fast_ema = 0.0
        self._slow_ema = 0.0
        self._signal_ema = 0.0

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
        slow = self._slow
        if count > slow:
            fast_ema = self._fast_ema
            fast_ema = (x - fast_ema) * self._k_fast + fast_ema
            slow_ema = self._slow_ema
            slow_ema = (x - slow_ema) * self._k_slow + slow_ema
        else:
            self._slow_sum += x
            if count > slow - self._fast:
                self._fast_sum += x
            if count < slow:
                return
            fast_ema = self._fast_sum / self._fast
            slow_ema = self._slow_sum / slow
        self._fast_ema = fast_ema
        self._slow_ema = slow_ema
        macd = fast_ema - slow_ema
        if count >= self.warmup + 1:
            signal = self._signal_ema
            signal = (macd - signal) * self._k_signal + signal
        else:
            self._signal_sum += macd
            if count < self.warmup:
                return
            signal = self._signal_sum / self._signal
        self._signal_ema = signal
        self.value = macd
        self.signal = signal
        self.histogram = macd - signal

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        x = columns[0]
        n = x.size
        fast, slow, sig = self._fast, self._slow, self._signal
        value, signal = nan_array(n), nan_array(n)
        if n >= self.warmup:
            slow_ema = np.empty(n - slow + 1)
            fast_ema = np.empty(n - slow + 1)
            slow_ema[0] = float(np.sum(x[:slow])) / slow
            fast_ema[0] = float(np.sum(x[slow - fast : slow])) / fast
            slow_ema[1:] = ema_tail(x[slow:], self._k_slow, slow_ema[0])
            fast_ema[1:] = ema_tail(x[slow:], self._k_fast, fast_ema[0])
            macd = fast_ema - slow_ema
            signal_ema = np.empty(macd.size - sig + 1)
            signal_ema[0] = float(np.sum(macd[:sig])) / sig
            signal_ema[1:] = ema_tail(macd[sig:], self._k_signal, signal_ema[0])
            value[self.warmup - 1 :] = macd[sig - 1 :]
            signal[self.warmup - 1 :] = signal_ema
        return {"value": value, "signal": signal, "histogram": value - signal}


class Stochastic(Indicator):
    """Slow stochastic oscillator (TA-Lib ``STOCH`` with SMA smoothing).

    Fast %K is ``100 * (close - lowest low) / (highest high - lowest low)`` over
    ``fastk_period`` bars (0 when the range is zero, as in TA-Lib); ``value`` (slow %K) is its
    SMA over ``slowk_period`` and ``d`` (slow %D) the SMA of slow %K over ``slowd_period``.

    Parameters
    ----------
    fastk_period : int, default 14
    slowk_period : int, default 3
    slowd_period : int, default 3
        Positive integers.

    Attributes
    ----------
    d : float
        Slow %D, ``nan`` until ready.
    """

    __slots__ = ("_d_mean", "_fastk", "_high", "_k_mean", "_low", "_slowd", "_slowk", "d")

    outputs = ("d",)

    d: float

    def __init__(
        self, fastk_period: int = 14, slowk_period: int = 3, slowd_period: int = 3
    ) -> None:
        self._fastk = check_period("Stochastic", fastk_period, "fastk_period")
        self._slowk = check_period("Stochastic", slowk_period, "slowk_period")
        self._slowd = check_period("Stochastic", slowd_period, "slowd_period")
        self._high = RollingExtreme(self._fastk, highest=True)
        self._low = RollingExtreme(self._fastk, highest=False)
        self._k_mean = RollingMean(self._slowk)
        self._d_mean = RollingMean(self._slowd)
        super().__init__(("high", "low", "close"), self._fastk + self._slowk + self._slowd - 2)

    @property
    def periods(self) -> tuple[int, int, int]:
        """tuple of int : ``(fastk_period, slowk_period, slowd_period)``."""
        return (self._fastk, self._slowk, self._slowd)

    @property
    def name(self) -> str:
        """str : ``"Stochastic(fastk, slowk, slowd)"``."""
        return f"Stochastic({self._fastk}, {self._slowk}, {self._slowd})"

    def reset(self) -> None:
        """Forget every bar seen."""
        super().reset()
        self._high.reset()
        self._low.reset()
        self._k_mean.reset()
        self._d_mean.reset()

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
        highest = self._high.push(high)
        lowest = self._low.push(low)
        if count < self._fastk:
            return
        scale = (highest - lowest) / 100.0
        fast_k = (close - lowest) / scale if scale != 0.0 else 0.0
        slow_k = self._k_mean.push(fast_k)
        if count < self._fastk + self._slowk - 1:
            return
        slow_d = self._d_mean.push(slow_k)
        if count < self.warmup:
            return
        self.value = slow_k
        self.d = slow_d

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        high, low, close = columns
        n = close.size
        value, d = nan_array(n), nan_array(n)
        if n >= self.warmup:
            highest = rolling_max(high, self._fastk)
            lowest = rolling_min(low, self._fastk)
            scale = (highest - lowest) / 100.0
            fast_k = np.divide(
                close[self._fastk - 1 :] - lowest,
                scale,
                out=np.zeros_like(scale),
                where=scale != 0.0,
            )
            slow_k = rolling_mean(fast_k, self._slowk)
            slow_d = rolling_mean(slow_k, self._slowd)
            value[self.warmup - 1 :] = slow_k[self._slowd - 1 :]
            d[self.warmup - 1 :] = slow_d
        return {"value": value, "d": d}
