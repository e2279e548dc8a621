"""Constructor argument checks shared by the indicators (private)."""

from __future__ import annotations

import numpy as np

from tradeloop.indicators.base import PRICE_FIELDS


def check_period(owner: str, value: object, what: str = "period", minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        requirement = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{owner} {what} must be {requirement}, got {value!r}")
    return int(value)


def check_source(owner: str, source: object) -> str:
    if source not in PRICE_FIELDS:
        raise ValueError(f"{owner} source must be one of {PRICE_FIELDS}, got {source!r}")
    return str(source)


def source_suffix(source: str, default: str) -> str:
    return "" if source == default else f", source={source}"
