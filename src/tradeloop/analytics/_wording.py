"""Figures in plain-language verdicts."""

from __future__ import annotations

import math


def floor_2dp(value: float) -> str:
    """``value`` with two decimals, floored: a shown figure never crosses a verdict threshold
    the true one has not (0.9499 shows as 0.94)."""
    return f"{math.floor(value * 100.0 + 1e-9) / 100.0:.2f}"


def plural(count: int, word: str) -> str:
    """``1 split``, ``12,870 splits``."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
