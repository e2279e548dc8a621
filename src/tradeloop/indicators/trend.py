"""Trend strength: Wilder's ADX with its directional indicators, matching TA-Lib."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradeloop.indicators._bases import PeriodIndicator
from tradeloop.indicators._kernels import linear_recurrence, nan_array, true_range
from tradeloop.indicators._validate import check_period
from tradeloop.indicators.base import NAN, FloatArray


class ADX(PeriodIndicator):
    """Average directional index with +DI and -DI (TA-Lib ``ADX``, ``PLUS_DI``, ``MINUS_DI``).

    Parameters
    ----------
    period : int, default 14
        An integer >= 2 (TA-Lib's range).

    Attributes
    ----------
    plus_di, minus_di : float
        The directional indicators, equal to TA-Lib's ``PLUS_DI`` and ``MINUS_DI``; ``nan``
        until ready.

    Notes
    -----
    Reproduces TA-Lib exactly, including its quirks:

    * a bar's +DM counts only if it is positive and larger than -DM, and -DM only if it is
      positive and larger than +DM (ties count for neither);
    * the Wilder sums of +DM, -DM and true range start as plain sums of the first
      ``period - 1`` values (bars 2 to ``period``), then are smoothed with
      ``s = s - s / period + x``;
    * the first ADX, after ``2 * period`` updates, averages the DX of bars ``period + 1`` to
      ``2 * period``;
    * when the smoothed true range or ``+DI + -DI`` is zero, DX is undefined: it counts as 0
      in that first average and leaves the ADX unchanged afterwards, while the DIs are 0.
    """

    __slots__ = (
        "_adx",
        "_close",
        "_high",
        "_low",
        "_minus_dm",
        "_plus_dm",
        "_sum_dx",
        "_tr",
        "minus_di",
        "plus_di",
    )

    outputs = ("plus_di", "minus_di")

    plus_di: float
    minus_di: float

    _label = "ADX"

    def __init__(self, period: int = 14) -> None:
        self._period = check_period(self._label, period, minimum=2)
        super().__init__(("high", "low", "close"), 2 * self._period)

    def reset(self) -> None:
        """Forget every bar seen."""
        super().reset()
        self._high = NAN
        self._low = NAN
        self._close = NAN
        self._plus_dm = 0.0
        self._minus_dm = 0.0
        self._tr = 0.0
        self._sum_dx = 0.0
        self._adx = 0.0

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
        prev_high = self._high
        prev_low = self._low
        prev_close = self._close
        self._high = high
        self._low = low
        self._close = close
        if count == 1:
            return
        diff_p = high - prev_high
        diff_m = prev_low - low
        tr = high - low
        candidate = abs(high - prev_close)
        if candidate > tr:  # noqa: PLR1730 (max() costs a call on the hot path)
            tr = candidate
        candidate = abs(low - prev_close)
        if candidate > tr:  # noqa: PLR1730 (max() costs a call on the hot path)
            tr = candidate
        p = self._period
        plus_dm = self._plus_dm
        minus_dm = self._minus_dm
        if count > p:
            plus_dm -= plus_dm / p
            minus_dm -= minus_dm / p
            smoothed_tr = self._tr
            smoothed_tr = smoothed_tr - smoothed_tr / p + tr
        else:
            smoothed_tr = self._tr + tr
        if diff_m > 0.0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0.0 and diff_p > diff_m:
            plus_dm += diff_p
        self._plus_dm = plus_dm
        self._minus_dm = minus_dm
        self._tr = smoothed_tr
        if count <= p:
            return
        dx = -1.0  # undefined; a defined DX is >= 0
        if smoothed_tr != 0.0:
            plus_di = 100.0 * (plus_dm / smoothed_tr)
            minus_di = 100.0 * (minus_dm / smoothed_tr)
            di_sum = plus_di + minus_di
            if di_sum != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        else:
            plus_di = minus_di = 0.0
        warmup = self.warmup
        if count > warmup:
            if dx >= 0.0:
                self._adx = (self._adx * (p - 1) + dx) / p
        else:
            if dx >= 0.0:
                self._sum_dx += dx
            if count < warmup:
                return
            self._adx = self._sum_dx / p
        self.value = self._adx
        self.plus_di = plus_di
        self.minus_di = minus_di

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        high, low, close = columns
        n = close.size
        p = self._period
        value, plus_out, minus_out = nan_array(n), nan_array(n), nan_array(n)
        if n < self.warmup:
            return {"value": value, "plus_di": plus_out, "minus_di": minus_out}
        # Element j of these describes bar j + 1.
        diff_p = high[1:] - high[:-1]
        diff_m = low[:-1] - low[1:]
        is_minus = (diff_m > 0.0) & (diff_p < diff_m)
        is_plus = ~is_minus & (diff_p > 0.0) & (diff_p > diff_m)
        plus_dm = np.where(is_plus, diff_p, 0.0)
        minus_dm = np.where(is_minus, diff_m, 0.0)
        tr = true_range(high, low, close)[1:]
        decay = 1.0 - 1.0 / p

        def smooth(x: FloatArray) -> FloatArray:
            return linear_recurrence(decay, x[p - 1 :], float(np.sum(x[: p - 1])))

        s_plus, s_minus, s_tr = smooth(plus_dm), smooth(minus_dm), smooth(tr)  # bars p .. n-1
        nonzero_tr = s_tr != 0.0
        safe_tr = np.where(nonzero_tr, s_tr, 1.0)
        plus_di = np.where(nonzero_tr, 100.0 * (s_plus / safe_tr), 0.0)
        minus_di = np.where(nonzero_tr, 100.0 * (s_minus / safe_tr), 0.0)
        di_sum = plus_di + minus_di
        defined = nonzero_tr & (di_sum != 0.0)
        safe_sum = np.where(defined, di_sum, 1.0)
        dx = np.where(defined, 100.0 * (np.abs(minus_di - plus_di) / safe_sum), 0.0)
        first = float(np.sum(dx[:p])) / p
        adx = np.empty(n - 2 * p + 1)
        adx[0] = first
        later = slice(p, None)
        adx[1:] = linear_recurrence(
            np.where(defined[later], (p - 1) / p, 1.0), dx[later] / p, first
        )
        value[2 * p - 1 :] = adx
        plus_out[2 * p - 1 :] = plus_di[p - 1 :]
        minus_out[2 * p - 1 :] = minus_di[p - 1 :]
        return {"value": value, "plus_di": plus_out, "minus_di": minus_out}
