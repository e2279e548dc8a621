"""Price rules of the stand-in's matching model, free of any state: which order types it knows,
what triggers a stop, trailing stop or if-touched order, when a limit is marketable, what a fill
costs in commission."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from ib_async.util import UNSET_DOUBLE

MARKET_TYPES = frozenset({"MKT", "STP", "TRAIL", "MIT"})  # execute as market once live
LIMIT_TYPES = frozenset({"LMT", "STP LMT", "LIT"})  # execute as limit once live
TRIGGERED_TYPES = frozenset({"STP", "STP LMT", "TRAIL", "MIT", "LIT"})
ORDER_TYPES = MARKET_TYPES | LIMIT_TYPES
TIFS = frozenset({"DAY", "GTC", "IOC", "FOK", "GTD"})
PriceField = float | Decimal | None  # an ``Order`` price field


@dataclass
class Quote:
    """The market of one contract, as the last ``set_price`` left it. Sizes of None mean the
    touch is deep enough for any order."""

    bid: float
    ask: float
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None

    def touch(self, buy: bool) -> float:
        """The price a marketable order of this side trades at."""
        return self.ask if buy else self.bid

    def depth(self, buy: bool) -> float:
        size = self.ask_size if buy else self.bid_size
        return math.inf if size is None else size

    def reference(self, buy: bool) -> float:
        """What triggers stop, trailing and if-touched orders: the last trade when there is
        one, otherwise the side the order would trade against."""
        return self.last if self.last is not None else self.touch(buy)

    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


def is_set(value: PriceField) -> bool:
    """Whether an ``Order`` price field holds a value (ib_async marks unset as UNSET_DOUBLE)."""
    return value is not None and float(value) != UNSET_DOUBLE


def on_tick(price: float, tick: float) -> bool:
    steps = price / tick
    return abs(steps - round(steps)) < 1e-6


def round_to_tick(price: float, tick: float, up: bool | None = None) -> float:
    steps = price / tick
    if up is None:
        n = round(steps)
    elif up:
        n = math.ceil(steps - 1e-9)
    else:
        n = math.floor(steps + 1e-9)
    return round(n * tick, 10)


def trail_offset(ref: float, aux_price: PriceField, trailing_percent: PriceField) -> float:
    if is_set(aux_price):
        return float(aux_price or 0.0)
    return ref * float(trailing_percent or 0.0) / 100.0


def next_trail_stop(current: float | None, ref: float, offset: float, buy: bool,
                    tick: float) -> float:
    """The trailing stop after the market moved to ``ref``: it follows the market by ``offset``
    and never moves back."""
    candidate = round_to_tick(ref + offset if buy else ref - offset, tick, up=buy)
    if current is None:
        return candidate
    return min(current, candidate) if buy else max(current, candidate)


def is_triggered(order_type: str, buy: bool, quote: Quote, aux_price: float,
                 trail_stop: float | None) -> bool:
    """Whether a trigger order goes live at this market."""
    ref = quote.reference(buy)
    if order_type in ("STP", "STP LMT"):
        return ref >= aux_price if buy else ref <= aux_price
    if order_type == "TRAIL":
        return trail_stop is not None and (ref >= trail_stop if buy else ref <= trail_stop)
    if order_type in ("MIT", "LIT"):
        return ref <= aux_price if buy else ref >= aux_price
    return True


def is_marketable(buy: bool, quote: Quote, limit: float) -> bool:
    touch = quote.touch(buy)
    if touch <= 0 or math.isnan(touch):
        return False
    return touch <= limit + 1e-12 if buy else touch >= limit - 1e-12


def commission(sec_type: str, quantity: float, price: float, multiplier: float) -> float:
    """IBKR Pro fixed-rate style commissions in USD."""
    value = quantity * price * multiplier
    if sec_type == "STK":
        return round(min(max(1.0, 0.005 * quantity), max(0.01 * value, 1.0)), 4)
    if sec_type == "CASH":
        return round(max(2.0, 0.00002 * value), 4)
    if sec_type == "FUT":
        return round(2.25 * quantity, 4)
    if sec_type == "OPT":
        return round(max(1.0, 0.65 * quantity), 4)
    return 1.0
