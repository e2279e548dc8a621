"""Crossovers of indicators or numbers, judged on the last two values (``prev`` and ``value``)."""

from __future__ import annotations

from typing import Protocol, SupportsFloat, cast


class Series(Protocol):
    """Anything with a current and a previous value, such as an indicator."""

    value: float
    prev: float


#: An indicator-like series, or a constant level (int, float, Decimal, a NumPy scalar).
Operand = Series | SupportsFloat


def _pair(x: Operand) -> tuple[float, float]:
    if isinstance(x, int | float) or not hasattr(x, "prev"):
        level = float(x)
        return level, level
    series = cast(Series, x)
    return series.prev, series.value


def crossed_above(a: Operand, b: Operand) -> bool:
    """True when ``a`` was below ``b`` on the previous value and is above it now."""
    try:
        return a.prev < b.prev and a.value > b.value  # type: ignore[union-attr]
    except AttributeError:
        pass
    a_prev, a_now = _pair(a)
    b_prev, b_now = _pair(b)
    return a_prev < b_prev and a_now > b_now


def crossed_below(a: Operand, b: Operand) -> bool:
    """True when ``a`` was above ``b`` on the previous value and is below it now."""
    try:
        return a.prev > b.prev and a.value < b.value  # type: ignore[union-attr]
    except AttributeError:
        pass
    a_prev, a_now = _pair(a)
    b_prev, b_now = _pair(b)
    return a_prev > b_prev and a_now < b_now
