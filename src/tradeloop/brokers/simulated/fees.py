"""Commission and slippage models of the simulated venue, and their command-line specs.

Commission specs (combine with a comma): ``0.1%`` of notional, ``0.005/unit`` (or ``/share``),
``7/lot`` (a lot of 100,000 units unless ``lot=N`` is given), ``min=1`` minimum fee per fill.
Slippage specs: ``2ticks`` (adverse ticks), ``0.05%`` of price, ``spread`` (buy at the ask, sell at
the bid of the latest quote).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from tradeloop.core.errors import ConfigError
from tradeloop.core.native import rebuild
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instrument import Instrument

# enum members read on the hot path, bound once (docs/decisions/0011)
_BUY: Final = OrderSide.BUY

ZERO = Decimal(0)
# Specs that turn a commission or slippage model off (after stripping and lower-casing).
_OFF_SPECS = ("", "0", "none")
# A number in a spec, loosely matched: _number() parses and checks it.
_NUMBER = r"([0-9.eE+-]+)"


class CommissionModel(Protocol):
    """Computes the fee of one fill, in the instrument's quote currency."""

    def fee(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        """Fee for filling ``quantity`` at ``price``."""
        ...


class SlippageModel(Protocol):
    """Moves a market-like fill price against the taker."""

    def apply(
        self, instrument: Instrument, side: OrderSide, price: Decimal, quote: QuoteTick | None
    ) -> Decimal:
        """The slipped fill price."""
        ...


@dataclass(frozen=True, slots=True)
class NoCommission:
    """Free trading."""

    def fee(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        """Always zero."""
        return ZERO

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True, slots=True)
class Commission:
    """A fee made of a percent of notional, an amount per unit and per lot, and a minimum.

    Attributes
    ----------
    percent : Decimal
        Percent of notional (0.1 means 0.1 %).
    per_unit : Decimal
    per_lot : Decimal
    lot_size : Decimal
    minimum : Decimal
    """

    percent: Decimal = ZERO
    per_unit: Decimal = ZERO
    per_lot: Decimal = ZERO
    lot_size: Decimal = Decimal(100_000)
    minimum: Decimal = ZERO

    def fee(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        """Fee for one fill."""
        amount = instrument.notional(quantity, price) * self.percent / 100
        amount += quantity * self.per_unit + quantity / self.lot_size * self.per_lot
        return max(amount, self.minimum)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True, slots=True)
class NoSlippage:
    """Fill at the matched price."""

    def apply(
        self, instrument: Instrument, side: OrderSide, price: Decimal, quote: QuoteTick | None
    ) -> Decimal:
        """The price unchanged."""
        return price

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True, slots=True)
class TickSlippage:
    """A fixed number of ticks against the taker."""

    ticks: int

    def apply(
        self, instrument: Instrument, side: OrderSide, price: Decimal, quote: QuoteTick | None
    ) -> Decimal:
        """The price moved ``ticks`` ticks against the order."""
        return price + side.sign * self.ticks * instrument.tick_size

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True, slots=True)
class PercentSlippage:
    """A percent of the price against the taker, rounded to the tick."""

    percent: Decimal

    def apply(
        self, instrument: Instrument, side: OrderSide, price: Decimal, quote: QuoteTick | None
    ) -> Decimal:
        """The price moved by ``percent`` against the order."""
        return instrument.make_price(price * (1 + side.sign * self.percent / 100))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True, slots=True)
class SpreadSlippage:
    """Buy at the ask and sell at the bid of the latest quote; no change without quotes."""

    def apply(
        self, instrument: Instrument, side: OrderSide, price: Decimal, quote: QuoteTick | None
    ) -> Decimal:
        """The quote's far side, or ``price`` when there is no quote."""
        if quote is None:
            return price
        return instrument.make_price(quote.ask if side is _BUY else quote.bid)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


def _number(text: str, spec: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{what} {spec!r}: {text!r} is not a number") from None
    if value < 0 or not value.is_finite():
        raise ConfigError(f"{what} {spec!r}: {text} must be a finite number >= 0")
    return value


def parse_commission(spec: str | None) -> CommissionModel:
    """Parse a commission spec such as ``0.1%,min=1`` or ``0.005/share``.

    Raises
    ------
    ConfigError
        With the accepted forms, when the spec is not understood.
    """
    if spec is None or spec.strip().lower() in _OFF_SPECS:
        return NoCommission()
    parts: dict[str, Decimal] = {}
    for raw in spec.split(","):
        part = raw.strip().lower()
        if m := re.fullmatch(rf"{_NUMBER}%", part):
            parts["percent"] = _number(m.group(1), spec, "commission")
        elif m := re.fullmatch(rf"{_NUMBER}/(unit|share|contract)", part):
            parts["per_unit"] = _number(m.group(1), spec, "commission")
        elif m := re.fullmatch(rf"{_NUMBER}/lot", part):
            parts["per_lot"] = _number(m.group(1), spec, "commission")
        elif m := re.fullmatch(rf"(min|lot)={_NUMBER}", part):
            key = "minimum" if m.group(1) == "min" else "lot_size"
            parts[key] = _number(m.group(2), spec, "commission")
        else:
            raise ConfigError(
                f"commission {spec!r}: cannot read {raw.strip()!r}; use forms like 0.1%, "
                "0.005/share, 7/lot, lot=100000, min=1 joined by commas"
            )
    if parts.get("lot_size") == 0:
        raise ConfigError(f"commission {spec!r}: lot size must be positive")
    return Commission(**parts)


def parse_slippage(spec: str | None) -> SlippageModel:
    """Parse a slippage spec: ``2ticks``, ``0.05%`` or ``spread``.

    Raises
    ------
    ConfigError
        With the accepted forms, when the spec is not understood.
    """
    if spec is None or spec.strip().lower() in _OFF_SPECS:
        return NoSlippage()
    text = spec.strip().lower()
    if m := re.fullmatch(r"(\d+)\s*ticks?", text):
        return TickSlippage(int(m.group(1)))
    if m := re.fullmatch(rf"{_NUMBER}%", text):
        return PercentSlippage(_number(m.group(1), spec, "slippage"))
    if text == "spread":
        return SpreadSlippage()
    raise ConfigError(f"slippage {spec!r}: use 2ticks, 0.05% or spread")
