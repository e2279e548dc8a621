"""Instruments and the exact arithmetic of their prices and quantities."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from tradeloop.core.native import rebuild
from tradeloop.model.enums import AssetClass

_CURRENCIES = frozenset(
    [
        "USD", "EUR", "JPY", "GBP", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "DKK", "HKD",
        "SGD", "CNH", "MXN", "ZAR", "PLN", "TRY", "INR",
    ]
)


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Convert a number to ``Decimal`` through its shortest repr, so 0.1 becomes Decimal('0.1')."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        known = _DECIMALS.get(value)  # market data repeats prices
        if known is None:
            known = Decimal(repr(value))
            if value:  # 0.0 and -0.0 are one key, with two reprs
                if len(_DECIMALS) >= _KEPT:
                    _DECIMALS.clear()
                _DECIMALS[value] = known
        return known
    return Decimal(value)


#: floats already converted, and float prices already rounded (by tick size), at most
#: ``_KEPT`` of each
_DECIMALS: dict[float, Decimal] = {}
_ROUNDED: dict[Decimal, dict[float, Decimal]] = {}
_KEPT: Final = 65_536


_UNIT = Decimal(1)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without turning whole numbers into exponents (100, not 1E+2)."""
    value = value.normalize()
    return value.quantize(_UNIT) if value == value.to_integral_value() else value


def _nearest_tick(value: Decimal, tick: Decimal) -> Decimal:
    ticks = (value / tick).to_integral_value(ROUND_HALF_EVEN)
    return _plain(ticks * tick) if ticks else Decimal(0)


# strategies send the same few sizes again and again; typed, so that a float size is not
# compared with a Decimal of the same hash (1.0 and Decimal(1)), which costs a conversion
@functools.lru_cache(maxsize=4096, typed=True)
def _round_down(value: Decimal | float | int | str, step: Decimal) -> Decimal:
    steps = (to_decimal(value) / step).to_integral_value(ROUND_DOWN)
    return _plain(steps * step) if steps else Decimal(0)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument.

    Attributes
    ----------
    symbol : str
    venue : str
    asset_class : AssetClass
    base_currency : str
        What one unit is (the share's currency for equities, EUR for EURUSD).
    quote_currency : str
        The currency prices and PnL are in.
    tick_size : Decimal
        Smallest price increment.
    lot_step : Decimal
        Smallest quantity increment.
    min_quantity : Decimal
    multiplier : Decimal
        Contract multiplier: PnL per unit of price per unit of quantity.
    margin_rate : Decimal
        Fraction of notional required as margin on a margin account.
    """

    symbol: str
    venue: str = "SIM"
    asset_class: AssetClass = AssetClass.EQUITY
    base_currency: str = "USD"
    quote_currency: str = "USD"
    tick_size: Decimal = Decimal("0.01")
    lot_step: Decimal = Decimal("1")
    min_quantity: Decimal = Decimal("1")
    multiplier: Decimal = Decimal("1")
    margin_rate: Decimal = Decimal("1")

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_step", "multiplier"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        if self.min_quantity < 0 or not 0 < self.margin_rate <= 1:
            raise ValueError(f"{self.symbol}: min_quantity >= 0 and 0 < margin_rate <= 1 required")

    def make_price(self, value: Decimal | float | int | str) -> Decimal:
        """Round a price to the nearest tick."""
        if not isinstance(value, float):
            return _nearest_tick(to_decimal(value), self.tick_size)
        # market data repeats prices: a float's rounding is kept (per tick size)
        rounded = _ROUNDED.get(self.tick_size)
        if rounded is None:
            rounded = _ROUNDED.setdefault(self.tick_size, {})
        price = rounded.get(value)
        if price is None:
            price = _nearest_tick(to_decimal(value), self.tick_size)
            if len(rounded) >= _KEPT:
                rounded.clear()
            rounded[value] = price
        return price

    def make_quantity(self, value: Decimal | float | int | str) -> Decimal:
        """Round a quantity *down* to the lot step (never trade more than asked)."""
        return _round_down(value, self.lot_step)

    def is_price_on_tick(self, price: Decimal) -> bool:
        """True when ``price`` is a whole number of ticks."""
        return price % self.tick_size == 0

    def notional(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Quantity times price times multiplier, in the quote currency."""
        return quantity * price * self.multiplier

    @classmethod
    def equity(cls, symbol: str, currency: str = "USD", venue: str = "SIM") -> Instrument:
        """A cash equity traded in whole shares with a one-cent tick."""
        return cls(symbol, venue, AssetClass.EQUITY, currency, currency)

    @classmethod
    def fx_pair(cls, symbol: str, venue: str = "SIM") -> Instrument:
        """A spot FX pair such as EURUSD, traded in units; JPY pairs tick in 0.001."""
        base, quote = symbol[:3].upper(), symbol[3:6].upper()
        tick = Decimal("0.001") if quote == "JPY" else Decimal("0.00001")
        return cls(
            symbol, venue, AssetClass.FX, base, quote, tick, Decimal(1), Decimal(1),
            Decimal(1), Decimal("0.0333"),
        )

    @classmethod
    def guess(cls, symbol: str, price_decimals: int = 2) -> Instrument:
        """Infer an instrument from its symbol and the decimals its prices use.

        Six-letter symbols made of two ISO currency codes become FX pairs; anything else is an
        equity in USD whose tick is one unit of the last decimal seen in the data.
        """
        clean = symbol.upper().replace("/", "").replace("_", "")
        if len(clean) == 6 and clean[:3] in _CURRENCIES and clean[3:] in _CURRENCIES:
            fx = cls.fx_pair(clean)
            return cls(
                symbol, fx.venue, fx.asset_class, fx.base_currency, fx.quote_currency,
                min(fx.tick_size, Decimal(1).scaleb(-price_decimals)), fx.lot_step,
                fx.min_quantity, fx.multiplier, fx.margin_rate,
            )
        decimals = max(2, min(price_decimals, 8))
        return cls(symbol, tick_size=Decimal(1).scaleb(-decimals))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)
