"""Sizing helpers round down to the lot; crossovers of indicators and numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from strategy_harness import Scripted, flat_bars, run

from tradeloop.indicators import SMA
from tradeloop.model.instrument import Instrument
from tradeloop.strategy import Strategy, crossed_above, crossed_below, sizing

D = Decimal
LOT10 = Instrument("ABC", lot_step=D(10), min_quantity=D(10))
FUTURE = Instrument("ABC", tick_size=D("0.25"), multiplier=D(50))


def sizes_on_first_bar(action, close: float = 123.45, instrument: Instrument | None = None,
                       cash: int = 100_000) -> Decimal:
    s = Scripted({0: action})
    result = run(s, flat_bars(close, close), cash=D(cash),
                 instruments={"ABC": instrument} if instrument else None)
    assert result.failures == []
    return s.results[0]


@pytest.mark.parametrize(
    ("percent", "instrument", "expected"),
    [
        (10, None, D(81)),  # 10_000 / 123.45 = 81.004
        ("2.5", None, D(20)),  # 2_500 / 123.45 = 20.25
        (10, LOT10, D(80)),
        (100, None, D(810)),  # 100_000 / 123.45 = 810.04
        (10, FUTURE, D(1)),  # 10_000 / (123.45 * 50) = 1.62
    ],
)
def test_size_percent_of_equity_rounds_down_to_the_lot(percent, instrument, expected) -> None:
    size = sizes_on_first_bar(lambda s: s.size_percent_of_equity(percent), 123.45, instrument)
    assert size == expected
    assert isinstance(size, Decimal)


@pytest.mark.parametrize(
    ("risk", "stop", "instrument", "expected"),
    [
        (1, 2.5, None, D(400)),  # 1_000 / 2.5
        (1, 3, None, D(333)),  # 1_000 / 3 = 333.3
        (1, 3, LOT10, D(330)),
        ("0.5", "0.7", None, D(714)),  # 500 / 0.7 = 714.28
        (1, 2.5, FUTURE, D(8)),  # 1_000 / (2.5 * 50)
        (1, 7, FUTURE, D(2)),  # 1_000 / 350 = 2.86
    ],
)
def test_size_for_risk_rounds_down_to_the_lot(risk, stop, instrument, expected) -> None:
    assert sizes_on_first_bar(lambda s: s.size_for_risk(risk, stop), 100, instrument) == expected


def test_sizing_uses_the_current_equity() -> None:
    # Buy 100 at 100 (fills at the second open), then at a close of 110 equity is 101_000.
    s = Scripted({0: lambda st: st.buy(100), 2: lambda st: st.size_percent_of_equity(10)})
    run(s, flat_bars(100, 100, 110, 110))
    assert s.portfolio.equity == D(101_000)
    assert s.results[2] == D(91)  # 10_100 / 110 = 91.8


def test_sizing_functions_directly() -> None:
    inst = Instrument.equity("ABC")
    assert sizing.fixed_units(LOT10, 99) == D(90)
    assert sizing.percent_of_equity(inst, D(50_000), 40.0, 20) == D(250)
    # a quote currency worth 0.0067 of the account currency (yen in a dollar account)
    assert sizing.percent_of_equity(inst, D(100_000), 150, 10, D("0.0067")) == D(9950)
    assert sizing.risk_based(inst, D(100_000), 1, D("1.5"), D("0.0067")) == D(99502)


@pytest.mark.parametrize("price", [0, -1.0, math.nan, math.inf])
def test_percent_of_equity_refuses_a_price_that_is_not_positive(price: float) -> None:
    with pytest.raises(ValueError, match="price must be positive"):
        sizing.percent_of_equity(Instrument.equity("ABC"), D(1000), price, 10)


@pytest.mark.parametrize("distance", [0, -2, math.nan, math.inf])
def test_risk_based_refuses_a_stop_distance_that_is_not_positive(distance: float) -> None:
    with pytest.raises(ValueError, match="stop distance must be positive"):
        sizing.risk_based(Instrument.equity("ABC"), D(1000), 1, distance)


def test_sizing_before_any_price_is_a_clear_error() -> None:
    class SizesTooEarly(Strategy):
        def on_start(self) -> None:
            self.size_percent_of_equity(10)

    s = SizesTooEarly()
    result = run(s, flat_bars(100, 100))
    (failure,) = result.failures
    assert failure.hook == "on_start"
    assert failure.error == "ValueError: price must be positive, got nan"


# -- crossings ----------------------------------------------------------------------------------


@dataclass
class Line:
    prev: float
    value: float


@pytest.mark.parametrize(
    ("a", "b", "above", "below"),
    [
        (Line(1, 3), Line(2, 2), True, False),
        (Line(3, 1), Line(2, 2), False, True),
        (Line(1, 1.5), Line(2, 2), False, False),  # still below
        (Line(2, 3), Line(2, 2), False, False),  # touching is not crossing
        (Line(1, 2), Line(2, 2), False, False),  # up to the line, not through
        (Line(math.nan, 3), Line(2, 2), False, False),  # not ready yet
        (Line(1, 3), Line(2, math.nan), False, False),
    ],
)
def test_crossings_of_two_series(a: Line, b: Line, above: bool, below: bool) -> None:
    assert crossed_above(a, b) is above
    assert crossed_below(a, b) is below


@pytest.mark.parametrize("level", [50, 50.0, np.float64(50), np.int64(50), D(50)])
def test_crossing_a_constant_level(level) -> None:
    assert crossed_above(Line(45, 55), level)
    assert not crossed_below(Line(45, 55), level)
    assert crossed_below(Line(55, 45), level)
    assert crossed_below(level, Line(45, 55))  # the level "crosses below" a rising line
    assert crossed_above(level, Line(55, 45))
    assert not crossed_above(Line(math.nan, 55), level)


def test_two_constants_never_cross() -> None:
    assert not crossed_above(1, 2) and not crossed_above(2, 1)
    assert not crossed_below(2.0, 1.0)


def test_crossings_of_real_indicators() -> None:
    fast, slow = SMA(2), SMA(4)
    closes = [10, 10, 10, 10, 12, 14, 12, 8, 6, 8, 12]
    ups, downs, fast_values, slow_values = [], [], [], []
    for i, c in enumerate(closes):
        fast.update(c)
        slow.update(c)
        fast_values.append(fast.value)
        slow_values.append(slow.value)
        if crossed_above(fast, slow):
            ups.append(i)
        if crossed_below(fast, slow):
            downs.append(i)
        if crossed_above(fast, 12):
            ups.append(-i)
    diff = np.array(fast_values) - np.array(slow_values)
    expected_up = [i for i in range(1, len(closes)) if diff[i - 1] < 0 < diff[i]]
    expected_down = [i for i in range(1, len(closes)) if diff[i - 1] > 0 > diff[i]]
    assert [i for i in ups if i > 0] == expected_up
    assert downs == expected_down
    assert expected_down and [i for i in ups if i < 0] == [-5]  # fast SMA: 10, 11, 13
