"""Wake conditions: what each one says bar by bar equals what it says over a whole series at
once, and declaring one wrongly is a clear error naming the strategy and the condition."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategy_harness import flat_bars

from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.indicators import RSI, SMA
from tradeloop.indicators.base import Indicator
from tradeloop.model.data import Bar
from tradeloop.strategy import (
    Above,
    Below,
    Cross,
    CrossAbove,
    CrossBelow,
    Strategy,
    WakeCondition,
    crossed_above,
    crossed_below,
)

KINDS = [Cross, CrossAbove, CrossBelow, Above, Below]


def streamed(condition: WakeCondition, indicators: list[Indicator], closes: list[float]
             ) -> list[bool]:
    said = []
    for close in closes:
        for indicator in indicators:
            indicator.update(close)
        said.append(condition.holds())
    return said


def series_of(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


# few distinct values, so that ties and NaN (an indicator not ready yet) are common
VALUE = st.one_of(st.none(), st.sampled_from([99.5, 100.0, 100.5]), st.just(100.0))
VALUES = st.lists(VALUE, min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS),
       level=st.sampled_from([None, 100, 99.5, Decimal("100.2")]), level_first=st.booleans())
def test_bar_by_bar_and_over_the_series_agree(data, kind, level, level_first) -> None:
    """The engine sets each indicator's prev and value from precomputed columns; the mask it
    skips bars with says, bar by bar, what holds() says on those values."""
    a_values = series_of(data.draw(VALUES))
    b_values = series_of(data.draw(st.lists(VALUE, min_size=len(a_values),
                                            max_size=len(a_values))))
    a, b = SMA(3), SMA(5)
    # each value before the first bar (the first bar's prev): NaN, or an indicator warmed up
    starts = {id(a): float(series_of([data.draw(VALUE)])[0]),
              id(b): float(series_of([data.draw(VALUE)])[0])}
    a.value, b.value = starts[id(a)], starts[id(b)]
    operands = (a, b) if level is None else (level, a) if level_first else (a, level)
    condition = kind(*operands)
    said = []
    for x, y in zip(a_values, b_values, strict=True):
        a.prev, a.value = a.value, float(x)
        b.prev, b.value = b.value, float(y)
        said.append(condition.holds())
    columns = {id(a): a_values, id(b): b_values}
    mask = condition.mask(lambda ind: columns[id(ind)], starts)
    assert mask.tolist() == said


@pytest.mark.parametrize("kind", KINDS)
def test_every_pair_of_bars_with_ties_and_nan(kind) -> None:
    """A condition reads two bars (prev and value) of each operand: all 256 combinations of
    four values, NaN and a tie included, judged the same both ways."""
    domain = [np.nan, 99.5, 100.0, 100.5]
    cases = list(itertools.product(domain, repeat=4))
    a, b = SMA(3), SMA(5)
    condition = kind(a, b)
    said = []
    for a.prev, a.value, b.prev, b.value in cases:
        said.append(condition.holds())
    firsts = {id(a): np.array([c[0] for c in cases]), id(b): np.array([c[2] for c in cases])}
    seconds = {id(a): np.array([c[1] for c in cases]), id(b): np.array([c[3] for c in cases])}
    # each case as its own two-bar series: bar 0 gives prev, bar 1 the value
    for k, case in enumerate(cases):
        columns = {key: np.array([firsts[key][k], seconds[key][k]]) for key in firsts}
        mask = condition.mask(lambda ind, columns=columns: columns[id(ind)],
                              {id(a): np.nan, id(b): np.nan})
        assert bool(mask[1]) == said[k], (kind.__name__, case)
    assert any(said) and not all(said)


@pytest.mark.parametrize("level", [30, 50.5])
def test_a_level_on_the_left_and_an_indicator_on_the_right(level) -> None:
    closes = [100 + 3 * np.sin(k / 3) for k in range(60)]
    rsi = RSI(5)
    said = streamed(CrossAbove(level, rsi), [rsi], closes)
    values = RSI(5).batch(np.array(closes))["value"]
    mask = CrossAbove(level, rsi).mask(lambda ind: values, {id(rsi): np.nan})
    assert mask.tolist() == said and any(said)


def test_the_crossing_conditions_say_what_crossed_above_and_crossed_below_say() -> None:
    a, b = SMA(2), SMA(5)
    for close in [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3, 4, 5, 6]:
        a.update(close)
        b.update(close)
        assert CrossAbove(a, b).holds() == crossed_above(a, b)
        assert CrossBelow(a, b).holds() == crossed_below(a, b)
        assert Cross(a, b).holds() == (crossed_above(a, b) or crossed_below(a, b))


def test_conditions_name_their_operands() -> None:
    assert repr(Cross(SMA(10), SMA(30))) == "Cross(SMA(10), SMA(30))"
    assert repr(Below(RSI(14), 30)) == "Below(RSI(14), 30)"


def test_two_numbers_or_a_string_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Above\(1, 2\) compares two numbers"):
        Above(1, 2)
    with pytest.raises(TypeError, match="CrossAbove: the second operand must be an indicator or "
                                        "a number, not str"):
        CrossAbove(SMA(3), "close")


class Declares(Strategy):
    """Declares what ``plan`` says in on_start (or on its first bar)."""

    def __init__(self, plan, late: bool = False) -> None:
        super().__init__("Declares")
        self.plan, self.late = plan, late

    def on_start(self) -> None:
        if not self.late:
            self.plan(self)

    def on_bar(self, bar: Bar) -> None:
        if self.late:
            self.late = False
            self.plan(self)


def failure_of(strategy: Strategy, **data) -> str:
    engine = BacktestEngine(BacktestConfig(cash=Decimal(10_000)))
    engine.add_data(flat_bars(*range(100, 110)))
    for series in data.values():
        engine.add_data(series)
    engine.add_strategy(strategy, symbols=("ABC", *data))
    try:
        run = engine.run()
    except Exception as exc:  # raised in on_start
        return str(exc)
    return str(run.failures[0]) if run.failures else ""


def test_an_indicator_the_strategy_did_not_declare_is_named() -> None:
    def plan(s: Strategy) -> None:
        s.wake_when(Cross(s.indicator(SMA(3)), SMA(5)))

    assert ("Declares: Cross(SMA(3), SMA(5)) reads SMA(5), which is not one of the strategy's "
            "indicators; declare it with self.indicator(...) first") in failure_of(Declares(plan))


def test_an_indicator_of_another_timeframe_is_refused() -> None:
    def plan(s: Strategy) -> None:
        s.wake_when(Above(s.indicator(SMA(3), timeframe="1w"), 100))

    assert "a wake condition follows indicators of a symbol's own bars" in failure_of(
        Declares(plan))


def test_indicators_of_two_symbols_are_refused() -> None:
    def plan(s: Strategy) -> None:
        s.wake_when(Cross(s.indicator(SMA(3)), s.indicator(SMA(3), symbol="XYZ")))

    assert "reads indicators of ABC, XYZ; a wake condition follows the bars of one symbol" in (
        failure_of(Declares(plan), XYZ=flat_bars(*range(100, 110), symbol="XYZ")))


def test_a_condition_declared_after_the_start_is_refused() -> None:
    class Late(Strategy):
        def on_start(self) -> None:
            self.fast = self.indicator(SMA(3))

        def on_bar(self, bar: Bar) -> None:
            self.wake_when(Above(self.fast, 100))

    assert ("Late: declare wake conditions in on_start; Above(SMA(3), 100) was declared after "
            "the data started") in failure_of(Late())


def test_something_that_is_no_condition_is_refused() -> None:
    def plan(s: Strategy) -> None:
        s.wake_when(crossed_above)  # type: ignore[arg-type]

    assert "Declares: wake_when takes conditions such as Cross(fast, slow), not function" in (
        failure_of(Declares(plan)))


def test_a_symbol_without_conditions_still_gets_every_bar() -> None:
    class Two(Strategy):
        def on_start(self) -> None:
            self.wake_when(Above(self.indicator(SMA(2)), 1_000))  # never, on ABC
            self.seen: list[str] = []

        def on_bar(self, bar: Bar) -> None:
            self.seen.append(bar.symbol)

    engine = BacktestEngine(BacktestConfig(cash=Decimal(10_000)))
    engine.add_data(flat_bars(*range(100, 110)))
    engine.add_data(flat_bars(*range(100, 110), symbol="XYZ"))
    strategy = Two()
    engine.add_strategy(strategy, symbols=("ABC", "XYZ"))
    engine.run()
    assert strategy.seen == ["XYZ"] * 10
