"""Sizing helpers respect the risk gate's size limits: the size shrinks to the largest quantity
the quantity, notional, position, exposure and buying-power limits let through, on the lot grid;
other limits do not shrink it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from strategy_harness import Scripted, flat_bars

from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.model import events as ev
from tradeloop.model.instrument import Instrument
from tradeloop.risk.base import Denial, DenialCode, Rule, Scope, TradingState
from tradeloop.risk.limits import ExposureLimit, MaxPosition, OrderNotionalLimit, OrderQuantityLimit

D = Decimal
LOT10 = Instrument("ABC", lot_step=D(10), min_quantity=D(10))


def run_with(rules, script, *, cash=100_000, instrument=None, closes=(100, 100, 100, 100),
             halted=False):
    strategy = Scripted(script)
    engine = BacktestEngine(BacktestConfig(cash=D(cash)))
    engine.add_data(flat_bars(*closes), instrument or Instrument.equity("ABC"))
    engine.kernel.risk.add_rules(rules)
    if halted:
        engine.kernel.risk.hold(TradingState.HALTED, DenialCode.KILL_SWITCH, "test")
    engine.add_strategy(strategy)
    run = engine.run()
    assert run.failures == []
    return strategy


# Equity 100,000, price 100: risking 1 % over a stop distance of 1 is 1,000 units (100,000).
@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], D(1000)),  # exactly the buying power
        ([MaxPosition(quantity=300)], D(300)),
        ([MaxPosition(Scope(symbol="ABC"), notional=12_345)], D(123)),
        ([OrderQuantityLimit(maximum=250)], D(250)),
        ([OrderNotionalLimit(maximum=12_345)], D(123)),
        ([ExposureLimit(max_gross=25_000)], D(250)),
        ([ExposureLimit(max_leverage="0.4")], D(400)),  # 40,000 on equity 100,000
        ([MaxPosition(quantity=300), OrderQuantityLimit(maximum=250)], D(250)),  # the tighter
        ([MaxPosition(quantity=300), OrderQuantityLimit(minimum=500)], D(0)),  # none fits
        ([OrderQuantityLimit(minimum=500)], D(1000)),  # a minimum caps nothing
        ([MaxPosition(Scope(strategy="other"), quantity=10)], D(1000)),  # out of scope
    ],
)
def test_size_for_risk_is_capped_by_the_size_limits(rules, expected):
    s = run_with(rules, {0: lambda st: st.size_for_risk(1, 1)})
    assert s.results[0] == expected


def test_the_cap_counts_the_position_already_held():
    s = run_with([MaxPosition(quantity=300)],
                 {0: lambda st: st.buy(100), 2: lambda st: st.size_for_risk(1, 1)})
    assert s.results[2] == D(200)


def test_buying_power_caps_the_size():
    # equity 50,000: 1 % over 0.5 is 1,000 units, worth 100,000; 500 is what the cash buys
    s = run_with([], {0: lambda st: st.size_for_risk(1, "0.5")}, cash=50_000)
    assert s.results[0] == D(500)


def test_the_cap_is_on_the_lot_grid():
    s = run_with([MaxPosition(quantity=255)], {0: lambda st: st.size_for_risk(1, 1)},
                 instrument=LOT10)
    assert s.results[0] == D(250)


def test_a_short_is_capped_by_its_own_side():
    s = run_with([MaxPosition(quantity=300)],
                 {0: lambda st: st.size_for_risk(1, 1, side="SELL")})
    assert s.results[0] == D(300)


def test_a_limit_entry_is_valued_at_its_limit():
    # 25,000 of gross exposure is 500 units at a limit of 50 (250 at the last price of 100)
    s = run_with([ExposureLimit(max_gross=25_000)],
                 {0: lambda st: st.size_for_risk(1, 1, limit=50)})
    assert s.results[0] == D(500)


def test_percent_of_equity_is_capped_too():
    s = run_with([MaxPosition(quantity=300)], {0: lambda st: st.size_percent_of_equity(50)})
    assert s.results[0] == D(300)


def test_limits_on_anything_but_size_do_not_shrink_it():
    s = run_with([MaxPosition(quantity=300)], {0: lambda st: st.size_for_risk(1, 1)},
                 halted=True)
    assert s.results[0] == D(300)  # the halt denies the order when it is sent, not its size


def test_the_capped_size_passes_the_gate():
    def size_and_buy(st):
        quantity = st.size_for_risk(1, 1)
        st.buy(quantity)
        return quantity

    rules = [MaxPosition(quantity=300), ExposureLimit(max_gross=27_500)]
    s = run_with(rules, {0: lambda st: st.buy(20), 2: size_and_buy})
    assert s.results[2] == D(255)  # 275 in all at 100, 20 held
    assert not [e for e in s.events if isinstance(e, ev.OrderDenied)]
    assert s.position().quantity == D(275)


class _Closed(Rule):
    code = DenialCode.SESSION

    def check(self, order, ctx):
        return Denial(self.code, "the market is closed")


class _Broken(Rule):
    code = DenialCode.RISK_ERROR

    def check(self, order, ctx):
        raise RuntimeError("a bug in a custom rule")


def test_a_rule_denying_for_another_reason_does_not_hide_a_size_limit_after_it():
    s = run_with([_Closed(), _Broken(), MaxPosition(quantity=300)],
                 {0: lambda st: st.size_for_risk(1, 1)})
    assert s.results[0] == D(300)
