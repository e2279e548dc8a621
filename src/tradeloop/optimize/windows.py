"""The windows of a walk-forward: in-sample and out-of-sample segments cut by bar index.

Cutting by bar index (not by calendar time) keeps the windows even when the data has gaps:
each out-of-sample window holds the same number of bars whatever weekends, holidays or
missing hours fall in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import ns_to_iso

#: ``--mode`` values.
MODES = ("rolling", "anchored")
#: The fewest bars an in-sample or out-of-sample window may have.
MIN_WINDOW_BARS = 10


@dataclass(frozen=True)
class Window:
    """One in-sample and out-of-sample pair, by bar index of the first series and by time.

    All bounds are inclusive: indices of the first and last bar, and their times in UTC
    nanoseconds.

    Attributes
    ----------
    number : int
        1 for the earliest window.
    """

    number: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int
    is_start_ns: int
    is_end_ns: int
    oos_start_ns: int
    oos_end_ns: int

    @property
    def is_bars(self) -> int:
        """Bars in the in-sample window."""
        return self.is_end - self.is_start + 1

    @property
    def oos_bars(self) -> int:
        """Bars in the out-of-sample window."""
        return self.oos_end - self.oos_start + 1

    def is_text(self) -> str:
        """``2017-04-19T09:00:00Z .. 2017-09-01T10:00:00Z``."""
        return f"{ns_to_iso(self.is_start_ns)} .. {ns_to_iso(self.is_end_ns)}"

    def oos_text(self) -> str:
        """The out-of-sample range, as :meth:`is_text`."""
        return f"{ns_to_iso(self.oos_start_ns)} .. {ns_to_iso(self.oos_end_ns)}"


def plan_windows(ts_ns: npt.ArrayLike, windows: int, mode: str,
                 train_ratio: float) -> list[Window]:
    """Cut a series' bars into in-sample and out-of-sample windows.

    The out-of-sample segments are ``windows`` consecutive segments of ``L`` bars at the end
    of the data, ``L = floor(n / (train_ratio + windows))`` for ``n`` bars. Each in-sample
    segment ends on the bar before its out-of-sample segment; rolling ones hold
    ``floor(train_ratio * L)`` bars, anchored ones start at the first bar. Bars before the
    first rolling in-sample window (the remainder of the division) are not used.

    Parameters
    ----------
    ts_ns : array_like of int64
        The bar times, ascending (UTC nanoseconds).
    windows : int
        At least 1.
    mode : {"rolling", "anchored"}
    train_ratio : float
        Positive.

    Returns
    -------
    list of Window
        Earliest first.

    Raises
    ------
    ConfigError
        For a bad option, or too few bars (the message says how many are needed).
    """
    check_plan_options(windows, mode, train_ratio)
    ts = np.asarray(ts_ns, dtype=np.int64)
    n = int(ts.shape[0])
    ratio = Fraction(train_ratio).limit_denominator(1_000_000)
    oos_len = math.floor(n / (ratio + windows))
    is_len = math.floor(ratio * oos_len)
    if oos_len < MIN_WINDOW_BARS or is_len < MIN_WINDOW_BARS:
        least_oos = max(MIN_WINDOW_BARS, math.ceil(MIN_WINDOW_BARS / ratio))
        needed = math.ceil((ratio + windows) * least_oos)
        raise ConfigError(
            f"walk-forward with {windows} windows and --train-ratio {train_ratio:g} needs at "
            f"least {needed:,} bars (every window at least {MIN_WINDOW_BARS} bars in and out "
            f"of sample); the data has {n:,}")
    first_oos = n - windows * oos_len
    out = []
    for k in range(windows):
        oos_start = first_oos + k * oos_len
        oos_end = oos_start + oos_len - 1
        is_start = 0 if mode == "anchored" else oos_start - is_len
        is_end = oos_start - 1
        out.append(Window(k + 1, is_start, is_end, oos_start, oos_end, int(ts[is_start]),
                          int(ts[is_end]), int(ts[oos_start]), int(ts[oos_end])))
    return out


def check_plan_options(windows: int, mode: str, train_ratio: float) -> None:
    """Check the options of :func:`plan_windows` without any data.

    Raises
    ------
    ConfigError
        For windows below 1, an unknown mode, or a train ratio that is not a positive number.
    """
    if isinstance(windows, bool) or not isinstance(windows, int) or windows < 1:
        raise ConfigError(f"--windows must be a whole number of at least 1, got {windows}")
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: expected {' or '.join(MODES)}")
    if not math.isfinite(train_ratio) or train_ratio <= 0:
        raise ConfigError(f"--train-ratio must be a positive number, got {train_ratio:g}")


__all__ = ["MIN_WINDOW_BARS", "MODES", "Window", "check_plan_options", "plan_windows"]
