"""O(1) rolling windows used inside the streaming indicators (private)."""

from __future__ import annotations

from collections import deque
from math import fsum


class RollingMean:
    # Ring buffer with a running sum that is recomputed exactly (fsum) each time the ring wraps,
    # so rounding never accumulates over more than ``period`` updates.
    __slots__ = ("_buf", "_i", "_period", "_total")

    def __init__(self, period: int) -> None:
        self._period = period
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self._period
        self._i = 0
        self._total = 0.0

    def push(self, x: float) -> float:
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
        return total / self._period


class RollingExtreme:
    # Rolling maximum (``highest=True``) or minimum of the last ``period`` values. Monotonic
    # deque: values strictly decreasing (increasing for the minimum) from the front, with their
    # bar numbers. The two comparisons are written out, not passed in as a function, to keep
    # ``push`` free of calls.
    __slots__ = ("_highest", "_n", "_numbers", "_period", "_values")

    def __init__(self, period: int, *, highest: bool) -> None:
        self._period = period
        self._highest = highest
        self.reset()

    def reset(self) -> None:
        self._values: deque[float] = deque()
        self._numbers: deque[int] = deque()
        self._n = 0

    def push(self, x: float) -> float:
        values = self._values
        numbers = self._numbers
        if self._highest:
            while values and values[-1] <= x:
                values.pop()
                numbers.pop()
        else:
            while values and values[-1] >= x:
                values.pop()
                numbers.pop()
        n = self._n
        values.append(x)
        numbers.append(n)
        if numbers[0] <= n - self._period:
            numbers.popleft()
            values.popleft()
        self._n = n + 1
        return values[0]
