"""Array checks and helpers shared by the analytics modules."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
NAN = math.nan
#: Anchor of the wealth index built from returns; empyrical uses the same, so drawdowns of a
#: return series agree with it bit for bit.
WEALTH_ANCHOR = 100.0


def _check_1d(array: np.ndarray, name: str) -> None:
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")


def as_float_1d(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    _check_1d(array, name)
    return array


def as_bool_1d(values: npt.ArrayLike, name: str) -> BoolArray:
    array = np.asarray(values, dtype=np.bool_)
    _check_1d(array, name)
    return array


def as_int_1d(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    array = np.asarray(values)
    _check_1d(array, name)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer nanoseconds, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def count_present(returns: FloatArray) -> int:
    return int(returns.size - np.count_nonzero(np.isnan(returns)))


def wealth_from_returns(returns: FloatArray) -> FloatArray:
    """Wealth index ``W_0 = 100``, ``W_t = 100 * prod_{s<=t}(1 + r_s)``; length ``n + 1``."""
    wealth = np.empty(returns.size + 1, dtype=np.float64)
    wealth[0] = WEALTH_ANCHOR
    growth = wealth[1:]
    np.add(np.where(np.isnan(returns), 0.0, returns), 1.0, out=growth)
    np.cumprod(growth, out=growth)
    np.multiply(growth, WEALTH_ANCHOR, out=growth)
    return wealth
