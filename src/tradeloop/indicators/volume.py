"""Volume-weighted indicators: VWAP (no TA-Lib counterpart)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradeloop.indicators._kernels import nan_array
from tradeloop.indicators.base import NAN, FloatArray, Indicator

_NS_PER_DAY = 86_400_000_000_000
_SESSIONS = ("day", None)
# The per-session cumulative sums are taken row-wise in a padded 2-D array (no cancellation)
# unless padding would need more than this many times the input size.
_MAX_PADDING_FACTOR = 4


class VWAP(Indicator):
    """Volume-weighted average of the typical price ``(high + low + close) / 3``.

    Parameters
    ----------
    session : {"day", None}, default "day"
        ``"day"`` anchors the average at each UTC day boundary of the bar's ``ts`` (int
        nanoseconds), which is then among :attr:`inputs`; ``None`` accumulates from the first
        bar on and needs no timestamp.

    Notes
    -----
    ``value`` is ``nan`` while the current session has traded no volume (0 / 0). The sums
    are plain running sums of non-negative terms, which do not suffer from cancellation.
    """

    __slots__ = ("_day", "_pv", "_session", "_volume")

    def __init__(self, session: str | None = "day") -> None:
        if session not in _SESSIONS:
            raise ValueError(f"VWAP session must be 'day' or None, got {session!r}")
        self._session = session
        inputs: tuple[str, ...] = ("high", "low", "close", "volume")
        if session is not None:
            inputs = (*inputs, "ts")
        super().__init__(inputs, 1)

    @property
    def session(self) -> str | None:
        """str or None : The anchoring session."""
        return self._session

    @property
    def name(self) -> str:
        """str : ``"VWAP(day)"`` or ``"VWAP(None)"``."""
        return f"VWAP({self._session})"

    def reset(self) -> None:
        """Forget every bar seen."""
        super().reset()
        self._pv = 0.0
        self._volume = 0.0
        self._day: int | float | None = None

    def update(self, *values: float) -> None:
        """Consume the next bar.

        Parameters
        ----------
        *values : float
            ``high, low, close, volume`` of the new bar, then its ``ts`` (UTC nanoseconds)
            when anchored to a session.
        """
        self.prev = self.value
        self.count += 1
        if self._session is not None:
            high, low, close, volume, ts = values
            day = ts // _NS_PER_DAY
            if day != self._day:
                self._day = day
                self._pv = 0.0
                self._volume = 0.0
        else:
            high, low, close, volume = values
        pv = self._pv + (high + low + close) / 3.0 * volume
        total_volume = self._volume + volume
        self._pv = pv
        self._volume = total_volume
        self.value = pv / total_volume if total_volume != 0.0 else NAN

    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]:
        high, low, close, volume = columns[:4]
        pv = (high + low + close) / 3.0 * volume
        if self._session is None or pv.size == 0:
            cum_pv, cum_volume = np.cumsum(pv), np.cumsum(volume)
        else:
            day = columns[4] // _NS_PER_DAY
            starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
            cum_pv = _session_cumsum(pv, starts)
            cum_volume = _session_cumsum(volume, starts)
        out = nan_array(pv.size)
        np.divide(cum_pv, cum_volume, out=out, where=cum_volume != 0.0)
        return {"value": out}


def _session_cumsum(x: FloatArray, starts: np.ndarray) -> FloatArray:
    n = x.size
    lengths = np.diff(np.r_[starts, n])
    position = np.arange(n) - np.repeat(starts, lengths)
    rows = starts.size
    width = int(lengths.max())
    if rows * width <= _MAX_PADDING_FACTOR * n + 1024:
        session = np.repeat(np.arange(rows), lengths)
        padded = np.zeros((rows, width))
        padded[session, position] = x
        return np.asarray(np.cumsum(padded, axis=1)[session, position], dtype=np.float64)
    total = np.cumsum(x)
    before = np.r_[0.0, total[:-1]][starts]
    return np.asarray(total - np.repeat(before, lengths), dtype=np.float64)
