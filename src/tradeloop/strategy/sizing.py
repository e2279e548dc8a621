"""Position sizing: fixed units, a percent of equity, or a risk budget over a stop distance.

Every helper rounds *down* to the instrument's lot step, so a size never exceeds the budget.
"""

from __future__ import annotations

from decimal import Decimal

from tradeloop.model.instrument import Instrument, to_decimal


def fixed_units(instrument: Instrument, units: Decimal | float | int) -> Decimal:
    """``units`` rounded down to the lot step."""
    return instrument.make_quantity(units)


def percent_of_equity(
    instrument: Instrument, equity: Decimal, price: Decimal | float, percent: Decimal | float,
    rate: Decimal = Decimal(1),
) -> Decimal:
    """The quantity whose notional is ``percent`` % of ``equity``.

    Parameters
    ----------
    instrument : Instrument
    equity : Decimal
        Account equity in the account currency.
    price : Decimal or float
        The instrument's price, in its quote currency.
    percent : Decimal or float
        0 to 100 (above 100 uses leverage).
    rate : Decimal
        Account currency per unit of the quote currency.
    """
    px = to_decimal(price)
    if not px.is_finite() or px <= 0:
        raise ValueError(f"price must be positive, got {price}")
    budget = equity * to_decimal(percent) / 100
    return instrument.make_quantity(budget / (px * instrument.multiplier * rate))


def risk_based(
    instrument: Instrument, equity: Decimal, risk_percent: Decimal | float,
    stop_distance: Decimal | float, rate: Decimal = Decimal(1),
) -> Decimal:
    """The quantity that loses ``risk_percent`` % of ``equity`` if price moves ``stop_distance``.

    Use an ATR multiple or the distance from entry to the stop-loss as ``stop_distance``.
    """
    distance = to_decimal(stop_distance)
    if not distance.is_finite() or distance <= 0:
        raise ValueError(f"stop distance must be positive, got {stop_distance}")
    budget = equity * to_decimal(risk_percent) / 100
    return instrument.make_quantity(budget / (distance * instrument.multiplier * rate))
