"""Vectorised building blocks shared by the ``batch()`` twins (private)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Block length limits for the linear recurrence: the per-block scale factors stay within
# ``10**-_MAX_DECADES`` of one, and a block never sums more than ``_MAX_BLOCK`` terms, which
# keeps the cumulative-sum rounding error around 1e-13 relative.
_MAX_DECADES = 100.0
_MAX_BLOCK = 1024
# Rows of sliding windows processed at once by the two-pass rolling variance.
_WINDOW_CHUNK_ELEMENTS = 1 << 20


def nan_array(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def rolling_sum(x: FloatArray, period: int) -> FloatArray:
    # Direct summation of every window (no running sum, so no drift); length n - period + 1.
    if x.size < period:
        return np.empty(0, dtype=np.float64)
    if period == 1:
        return x.astype(np.float64, copy=True)
    return np.convolve(x, np.ones(period, dtype=np.float64), mode="valid")


def rolling_mean(x: FloatArray, period: int) -> FloatArray:
    return rolling_sum(x, period) / period


def rolling_weighted_sum(x: FloatArray, weights_newest_first: FloatArray) -> FloatArray:
    if x.size < weights_newest_first.size:
        return np.empty(0, dtype=np.float64)
    return np.convolve(x, weights_newest_first, mode="valid")


def _rolling_extreme(x: FloatArray, period: int, op: np.ufunc) -> FloatArray:
    # Doubling: windows of 1, 2, 4, ... then two overlapping power-of-two windows cover one
    # window of ``period``; O(n log period) and exact.
    n = x.size
    if n < period:
        return np.empty(0, dtype=np.float64)
    acc = x.astype(np.float64, copy=True)
    width = 1
    while width * 2 <= period:
        acc = op(acc[:-width], acc[width:])
        width *= 2
    out_len = n - period + 1
    shift = period - width
    return np.asarray(op(acc[:out_len], acc[shift : shift + out_len]), dtype=np.float64)


def rolling_max(x: FloatArray, period: int) -> FloatArray:
    return _rolling_extreme(x, period, np.maximum)


def rolling_min(x: FloatArray, period: int) -> FloatArray:
    return _rolling_extreme(x, period, np.minimum)


def rolling_std(x: FloatArray, period: int, mean: FloatArray) -> FloatArray:
    # Two-pass population standard deviation of each window around its precomputed mean.
    n_out = mean.size
    out = np.empty(n_out, dtype=np.float64)
    if n_out == 0:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    step = max(1, _WINDOW_CHUNK_ELEMENTS // period)
    for start in range(0, n_out, step):
        stop = min(n_out, start + step)
        dev = windows[start:stop] - mean[start:stop, None]
        out[start:stop] = np.einsum("ij,ij->i", dev, dev) / period
    return np.sqrt(out)


def linear_recurrence(a: float | FloatArray, b: FloatArray, y0: float) -> FloatArray:
    # y[i] = a[i] * y[i-1] + b[i] with y[-1] = y0, for 0 <= a <= 1, solved block by block:
    # inside a block y[i] = A[i] * (y0 + sum_{j<=i} b[j] / A[j]) with A the running product of a.
    n = b.size
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    scalar = np.ndim(a) == 0
    a_arr = np.asarray(a, dtype=np.float64)
    a_min = float(a_arr) if scalar else float(a_arr.min())
    if a_min == 0.0:
        if not scalar:
            raise ValueError("linear_recurrence needs a > 0 when a varies")
        out[:] = b
        return out
    if a_min >= 1.0:
        block = _MAX_BLOCK
    else:
        block = int(_MAX_DECADES / -math.log10(a_min))
        block = max(1, min(_MAX_BLOCK, block))
    powers: FloatArray | None = None
    if scalar:
        powers = np.power(float(a_arr), np.arange(1, min(block, n) + 1, dtype=np.float64))
    y = y0
    for start in range(0, n, block):
        stop = min(n, start + block)
        scale = powers[: stop - start] if powers is not None else np.cumprod(a_arr[start:stop])
        seg = scale * (y + np.cumsum(b[start:stop] / scale))
        out[start:stop] = seg
        y = float(seg[-1])
    return out


def ema_tail(x: FloatArray, k: float, seed: float) -> FloatArray:
    # TA-Lib's EMA step e = (x - e) * k + e, i.e. e = (1 - k) * e + k * x, after a seed value.
    return linear_recurrence(1.0 - k, k * x, seed)


def wilder_tail(x: FloatArray, period: int, seed: float) -> FloatArray:
    # Wilder's smoothing e = (e * (period - 1) + x) / period after a seed value.
    return linear_recurrence((period - 1) / period, x / period, seed)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    # TA-Lib's true range; nan for the first bar, which has no previous close.
    out = nan_array(close.size)
    if close.size > 1:
        previous = close[:-1]
        h, lo = high[1:], low[1:]
        out[1:] = np.maximum(np.maximum(h - lo, np.abs(h - previous)), np.abs(lo - previous))
    return out
